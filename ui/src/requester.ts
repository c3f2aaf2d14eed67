// The requester's side of the app: projects with live progress, one project's charts and
// annotators, the schema editor, uploads (drag-and-drop or file picker) and exports.
import type { Batch, ProjectDashboard, ProjectSummary, SchemaKind } from "./bindings";
import { exportFormats } from "./export_formats";
import { agreementChart, answersChart, labelsChart, progressChart, secondsChart } from "./charts";
import { h } from "./dom";
import { errorMessage, ipc } from "./ipc";
import { formatScore } from "./keys";
import { type SchemaForm, schemaFromForm } from "./schema_form";
import { peopleScreen } from "./people_screen";
import { modelRunsLine } from "./ml_backends";
import { settingsScreen } from "./project_settings";
import { qualityScreen } from "./quality_view";
import { taskBrowser } from "./task_browser";

type Screen = { name: "list" } | { name: "project"; id: number } | { name: "new" };

let app: HTMLElement;
let screen: Screen = { name: "list" };
let projects: ProjectSummary[] = [];
let notice = "";
/** Whether `notice` reports something done (shown calm) rather than a refusal (in red). */
let noticeOk = false;
/** The last upload's or export's outcome, shown on the project screen. */
let report: HTMLElement | null = null;
let refreshTimer: number | undefined;
/** The priority the next upload gets (higher batches are leased first); kept across repaints. */
let uploadPriority = 0;
let signOut: () => void;

/** Opens the dashboard in `root`; `onSignOut` returns to the sign-in screen. */
export function showDashboard(root: HTMLElement, onSignOut: () => void) {
  app = root;
  signOut = onSignOut;
  void goto({ name: "list" });
  // Live progress: the project list every 5 s; a project's screen, whose figures read all
  // of its answers on the server, every 30 s.
  window.clearInterval(refreshTimer);
  let ticks = 0;
  refreshTimer = window.setInterval(() => {
    if (!app.querySelector(".requester")) return window.clearInterval(refreshTimer);
    ticks += 1;
    const due = screen.name === "list" || (screen.name === "project" && ticks % 6 === 0);
    // Not while an upload runs or someone is typing in a field (a repaint would take it away).
    const active = document.activeElement;
    const typing = (active instanceof HTMLInputElement || active instanceof HTMLTextAreaElement) && app.contains(active);
    if (due && !document.querySelector(".uploading") && !typing) void goto(screen, true);
  }, 5000);
}

async function goto(next: Screen, quiet = false) {
  screen = next;
  if (!quiet) {
    notice = "";
    report = null;
  }
  try {
    if (next.name === "list") {
      projects = await ipc.dashboardProjects();
      paintList();
    } else if (next.name === "project") {
      paintProject(await ipc.projectDashboard(next.id));
    } else {
      paintNew();
    }
  } catch (e) {
    notice = errorMessage(e);
    noticeOk = false;
    if (next.name === "project" && !quiet) paintList();
  }
}

function progress(done: number, of: number): HTMLElement {
  return h(
    "span",
    { class: "progress-cell" },
    h("progress", { max: String(Math.max(of, 1)), value: String(done), "aria-label": `${done} of ${of} tasks complete` }),
    ` ${done} / ${of}`,
  );
}

function noticeLine(): HTMLElement | null {
  if (!notice) return null;
  return noticeOk ? h("p", { class: "ok", role: "status", id: "notice" }, notice) : h("p", { class: "error", role: "alert", id: "notice" }, notice);
}

function paintList() {
  const rows = projects.map((p, i) =>
    h(
      "tr",
      {},
      h("td", {}, h("kbd", {}, String(i + 1))),
      h("td", {}, h("button", { class: "link", "data-project": String(p.id), onclick: () => void goto({ name: "project", id: p.id }) }, p.name)),
      h("td", {}, p.kind),
      h("td", {}, progress(p.complete, p.tasks - p.cancelled)),
      h("td", { class: "num" }, String(p.answers)),
      h("td", { class: "num" }, String(p.annotators)),
      h("td", { class: "num" }, String(p.needs_review)),
    ),
  );
  app.replaceChildren(
    h(
      "section",
      { class: "card requester", id: "dashboard" },
      h("header", { class: "top" }, h("h1", {}, "Projects"), h("button", { id: "new-project", onclick: () => void goto({ name: "new" }) }, "New project (N)")),
      projects.length
        ? h(
            "table",
            { class: "projects-table" },
            h("thead", {}, h("tr", {}, ...["", "Project", "Kind", "Complete", "Answers", "Annotators", "To review"].map((c) => h("th", {}, c)))),
            h("tbody", {}, ...rows),
          )
        : h("p", {}, "No projects yet: N makes one."),
      noticeLine(),
      h("p", { class: "hints" }, h("kbd", {}, "1–9"), " open  ", h("kbd", {}, "N"), " new project  ", h("kbd", {}, "T"), " theme  ", h("kbd", {}, "Q"), " sign out"),
    ),
  );
}

/** The project screen's tabs, in the order of their number keys. */
const TABS = [
  ["overview", "Overview"],
  ["people", "People"],
  ["tasks", "Tasks"],
  ["quality", "Quality"],
  ["batches", "Batches and export"],
  ["settings", "Settings"],
] as const;
type Tab = (typeof TABS)[number][0];
let tab: Tab = "overview";
/** The project whose screen shows, so that another project opens on its overview. */
let tabOf: number | null = null;

function figures(d: ProjectDashboard): HTMLElement {
  const p = d.summary;
  const s = d.stats;
  const forecast = s.forecast;
  let due = "—";
  if (forecast && forecast.tasks_left === 0) due = "done";
  else if (forecast?.done_by) {
    const at = new Date(forecast.done_by);
    const today = at.toDateString() === new Date().toDateString();
    due = at.toLocaleString([], today ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }
  return h(
    "dl",
    { class: "figures" },
    ...[
      ["Tasks", String(p.tasks)],
      ["Complete", `${p.complete}`],
      ["Gold", String(p.gold)],
      ["Answers", String(p.answers)],
      ["Annotators", String(p.annotators)],
      ["To review", String(p.needs_review)],
      ["Stuck", String(p.stuck)],
      ["Done by", due],
      ["Krippendorff α", s.krippendorff_alpha === null ? "—" : s.krippendorff_alpha.toFixed(3)],
      ["Agreement", s.percent_agreement === null ? "—" : formatScore(s.percent_agreement)],
      ["Median answer", s.median_seconds === null ? "—" : `${s.median_seconds.toFixed(1)} s`],
      ["Pace", forecast ? `${forecast.per_hour.toFixed(1)} tasks/h` : "—"],
    ].map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", { "data-figure": k }, v))),
  );
}

function overview(d: ProjectDashboard): HTMLElement {
  const s = d.stats;
  const names = new Map(d.annotators.map((a) => [a.annotator_id, a.annotator]));
  return h(
    "section",
    { id: "overview", "aria-label": "Overview" },
    figures(d),
    h(
      "div",
      { class: "charts" },
      progressChart("chart-complete", s.timeline, d.summary.tasks - d.summary.cancelled),
      answersChart("chart-answers", s.timeline, names),
      agreementChart("chart-agreement", s.timeline),
      secondsChart("chart-seconds", s.seconds_per_answer, s.median_seconds),
      labelsChart("chart-labels", s.label_counts),
    ),
    skipLine(d.skips_by_reason),
    methodLine(d.consensus_by_method),
    h("p", { class: "muted", id: "model-runs" }, modelRunsLine(s.model_runs)),
  );
}

/** The file picker, in the project screen's frame so that U opens it from any tab. */
function filePicker(projectId: number): HTMLInputElement {
  const picker = h("input", { type: "file", id: "upload-input", accept: ".jsonl,.ndjson,.json,.csv,.tsv,.conll,.iob,.bio,.bioes,.xml,.zip,.spacy", class: "visually-hidden", "aria-label": "Choose a batch file" }) as HTMLInputElement;
  picker.addEventListener("change", () => {
    const file = picker.files?.[0];
    if (file) void upload(projectId, file);
  });
  return picker;
}

function uploadBox(projectId: number): HTMLElement {
  const choose = () => (app.querySelector("#upload-input") as HTMLInputElement | null)?.click();
  const drop = h(
    "div",
    { class: "drop-zone", id: "drop-zone", tabindex: "0", role: "button", "aria-label": "Upload a batch: drop a file (JSONL, JSON, CSV, TSV, CoNLL, VOC XML, or a zip of a YOLO or VOC set) here, or press U to choose one" },
    h("strong", {}, "Upload a batch"),
    h("span", { class: "muted" }, " — drop a file from Label Studio, Prodigy, Toloka, spaCy, COCO, CoNLL, a VOC XML or a zip of a YOLO or VOC set here, or "),
    h("button", { class: "link", onclick: choose }, "choose a file (U)"),
  );
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = (e as DragEvent).dataTransfer?.files?.[0];
    if (file) void upload(projectId, file);
  });
  return drop;
}

function tabBody(d: ProjectDashboard): HTMLElement {
  const p = d.summary;
  const refresh = (message: string, ok = true) => {
    notice = message;
    noticeOk = ok;
    void goto({ name: "project", id: p.id }, true);
  };
  switch (tab) {
    case "overview":
      return overview(d);
    case "people":
      return peopleScreen(p.id);
    case "tasks":
      return taskBrowser(p.id, {
        labels: d.labels,
        annotators: d.annotators.map((a) => [a.annotator_id, a.annotator]),
        batches: d.batches.map((b) => b.id),
      });
    case "quality":
      return qualityScreen(d, refresh);
    case "settings":
      return settingsScreen(p, d.schema, refresh, () => ipc.exportProject(p.id, "jsonl"), (message) => {
        notice = message;
        noticeOk = true;
        void goto({ name: "list" }, true);
      });
    case "batches":
      return h(
        "section",
        { id: "batches-tab", "aria-label": "Batches and export" },
        d.batches.length ? batchTable(p.id, d.batches) : h("p", { class: "muted" }, "No batches yet."),
        uploadBox(p.id),
        priorityField(),
        exportLine(p.id, p.kind),
      );
  }
}

function switchTab(next: Tab) {
  tab = next;
  notice = "";
  report = null;
  if (screen.name === "project") void goto(screen, true);
}

function paintProject(d: ProjectDashboard) {
  const p = d.summary;
  if (tabOf !== p.id) {
    tab = "overview";
    tabOf = p.id;
  }
  const tabs = h(
    "nav",
    { class: "tabs", role: "tablist", "aria-label": "Project" },
    ...TABS.map(([id, name], i) =>
      h("button", { role: "tab", class: "tab", id: `tab-${id}`, "aria-selected": tab === id ? "true" : "false", onclick: () => switchTab(id) }, h("kbd", {}, String(i + 1)), ` ${name}`),
    ),
  );
  app.replaceChildren(
    h(
      "section",
      { class: "card requester", id: "project", "data-project": String(p.id), "data-tab": tab },
      h(
        "header",
        { class: "top" },
        h("h1", {}, p.name, p.archived ? h("span", { class: "flag", id: "archived-badge" }, " archived") : null),
        h("span", { class: "muted" }, `${p.kind} · `, progress(p.complete, p.tasks - p.cancelled)),
      ),
      tabs,
      filePicker(p.id),
      report,
      noticeLine(),
      tabBody(d),
      h("p", { class: "hints" }, h("kbd", {}, "1–6"), " tabs  ", h("kbd", {}, "Esc"), " all projects  ", h("kbd", {}, "U"), " upload  ", h("kbd", {}, "J"), "/", h("kbd", {}, "C"), " export  ", h("kbd", {}, "T"), " theme  ", h("kbd", {}, "?"), " keys"),
    ),
  );
}

function skipLine(skips: Record<string, number>): HTMLElement | null {
  const entries = Object.entries(skips);
  if (!entries.length) return null;
  const text = entries.map(([reason, n]) => `${reason || "no reason"} ${n}`).join(" · ");
  return h("p", { class: "muted", id: "skips" }, `Skipped: ${text}`);
}

/** Which method made the consensus shown, in words a requester reads. */
const METHOD_NAMES: Record<string, string> = {
  auto: "the fitted model (last re-fit)",
  dawid_skene_incremental: "the fitted model, as answers arrived",
  majority_vote: "majority vote",
};

function methodLine(methods: Record<string, number>): HTMLElement | null {
  const entries = Object.entries(methods);
  if (!entries.length) return null;
  const text = entries.map(([method, n]) => `${n} by ${METHOD_NAMES[method] ?? method}`).join(" · ");
  return h("p", { class: "muted", id: "consensus-methods" }, `Consensus: ${text}`);
}

/** Bytes of the file read and sent per step of an upload. */
const UPLOAD_CHUNK = 1 << 20;

/**
 * Uploads `file` as a new batch: read a chunk at a time and streamed to the server while the
 * next is read, so the bar shows bytes sent and the file is never held whole. The server
 * checks lines as they arrive; a refused one ends the upload early.
 */
async function upload(projectId: number, file: File) {
  const bar = h("progress", { max: String(Math.max(file.size, 1)), value: "0", "aria-label": "upload progress" }) as HTMLProgressElement;
  const line = h("p", { class: "uploading", id: "upload-progress" }, bar, ` uploading ${file.name}…`);
  report = line;
  document.querySelector("#upload-progress, #upload-report")?.replaceWith(line);
  if (!document.getElementById("upload-progress")) app.querySelector("#project")?.append(line);
  let id: number | null = null;
  try {
    id = await ipc.startUpload(projectId, file.name, uploadPriority);
    for (let sent = 0; sent < file.size; ) {
      const chunk = new Uint8Array(await file.slice(sent, sent + UPLOAD_CHUNK).arrayBuffer());
      const more = await ipc.uploadChunk(id, chunk);
      sent += chunk.length;
      bar.value = sent;
      if (!more) break;
    }
    bar.removeAttribute("value"); // storing has no byte count: indeterminate
    line.lastChild!.textContent = ` storing ${file.name}…`;
    const finishing = id;
    id = null; // finished below, whatever the answer
    const done = await ipc.finishUpload(finishing);
    const priority = uploadPriority === 0 ? "" : `, priority ${uploadPriority}`;
    report = h("p", { class: "ok", id: "upload-report", role: "status" }, `${file.name}: ${done.tasks_added} tasks added (batch ${done.batch_id}${priority}).`);
  } catch (e) {
    // A chunk that could not be read or handed over: end the request too (nothing is stored).
    if (id !== null) void ipc.finishUpload(id).catch(() => undefined);
    const where = uploadLocation(e);
    report = h("p", { class: "error", id: "upload-report", role: "alert" }, `${file.name} was rejected${where}; nothing from it was stored. ${errorMessage(e)}`);
  }
  await goto({ name: "project", id: projectId }, true);
}

/** The project's batches; each priority can be changed in place (Enter or leaving the field). */
function batchTable(projectId: number, batches: Batch[]): HTMLElement {
  const priority = (b: Batch) => {
    const input = h("input", { type: "number", step: "1", class: "batch-priority", id: `batch-priority-${b.id}`, value: String(b.priority), "aria-label": `Priority of batch ${b.id}` }) as HTMLInputElement;
    input.addEventListener("change", () => void setPriority(projectId, b, input.value));
    return input;
  };
  return h(
    "table",
    { class: "data-table", id: "batches" },
    h("thead", {}, h("tr", {}, h("th", {}, "Batch"), h("th", { class: "num" }, "Tasks"), h("th", {}, "Priority"), h("th", {}, "Uploaded"))),
    h(
      "tbody",
      {},
      ...batches.map((b) =>
        h("tr", { "data-batch": String(b.id) }, h("td", {}, String(b.id)), h("td", { class: "num" }, String(b.task_count)), h("td", {}, priority(b)), h("td", {}, new Date(b.created_at).toLocaleString())),
      ),
    ),
  );
}

async function setPriority(projectId: number, batch: Batch, value: string) {
  const priority = Number.parseInt(value, 10);
  if (!Number.isFinite(priority) || priority === batch.priority) return;
  try {
    const set = await ipc.setBatchPriority(projectId, batch.id, Math.max(-1e9, Math.min(1e9, priority)));
    report = h("p", { class: "ok", id: "batch-report", role: "status" }, `Batch ${set.id} now has priority ${set.priority}.`);
  } catch (e) {
    report = h("p", { class: "error", id: "batch-report", role: "alert" }, errorMessage(e));
  }
  await goto({ name: "project", id: projectId }, true);
}

/** The next upload's priority: its tasks are leased before those of lower-priority batches. */
function priorityField(): HTMLElement {
  const input = h("input", { type: "number", id: "upload-priority", step: "1", value: String(uploadPriority), "aria-describedby": "upload-priority-hint" }) as HTMLInputElement;
  input.addEventListener("input", () => {
    const value = Number.parseInt(input.value, 10);
    // The server takes a 32-bit priority; anything past ±1e9 means "first" or "last" anyway.
    uploadPriority = Number.isFinite(value) ? Math.max(-1e9, Math.min(1e9, value)) : 0;
  });
  return h(
    "p",
    { class: "priority" },
    h("label", { for: "upload-priority" }, "Priority of the next batch "),
    input,
    h("span", { class: "muted", id: "upload-priority-hint" }, " higher batches are labelled first; 0 is the default"),
  );
}

function uploadLocation(e: unknown): string {
  if (typeof e !== "object" || e === null || !("line" in e)) return "";
  const { line, column } = e as { line: number | null; column: number | null };
  if (line === null) return "";
  return column === null ? ` at line ${line}` : ` at line ${line}, column ${column}`;
}

/** The export menu: a format, what a task's label is, and the J/C shortcuts' buttons. */
function exportLine(projectId: number, kind: SchemaKind): HTMLElement {
  const format = h("select", { id: "export-format", "aria-label": "Export format" }, ...exportFormats(kind).map(([f, name]) => h("option", { value: f }, name))) as HTMLSelectElement;
  const label = h(
    "select",
    { id: "export-label", "aria-label": "A task's label in the export" },
    h("option", { value: "review" }, "final label (reviewer's, else gold, else consensus)"),
    h("option", { value: "consensus" }, "crowd consensus"),
    h("option", { value: "answers" }, "every answer"),
  ) as HTMLSelectElement;
  return h(
    "p",
    { class: "export" },
    h("label", { for: "export-format" }, "Export as "),
    format,
    " with ",
    label,
    " ",
    h("button", { id: "export-go", onclick: () => void exportAs(projectId, format.value, label.value) }, "Export"),
    " ",
    h("button", { id: "export-jsonl", onclick: () => void exportAs(projectId, "jsonl") }, "JSONL (J)"),
    " ",
    h("button", { id: "export-csv", onclick: () => void exportAs(projectId, "csv") }, "CSV (C)"),
  );
}

async function exportAs(projectId: number, format: string, label: string | null = null) {
  try {
    const path = await ipc.exportProject(projectId, format, label);
    report = h("p", { class: "ok", id: "export-report", role: "status" }, `Exported to ${path}`);
  } catch (e) {
    report = h("p", { class: "error", id: "export-report", role: "alert" }, errorMessage(e));
  }
  await goto({ name: "project", id: projectId }, true);
}

function paintNew() {
  const field = (label: string, input: HTMLElement, hint = "") =>
    h("label", {}, label, input, hint ? h("span", { class: "muted small" }, hint) : null);
  const name = h("input", { id: "new-name", required: true, "aria-label": "Project name" }) as HTMLInputElement;
  const kind = h(
    "select",
    { id: "new-kind", "aria-label": "Kind of task" },
    ...(["classification", "rating", "pairwise", "text", "spans", "boxes"] as SchemaKind[]).map((k) => h("option", { value: k }, k)),
  ) as HTMLSelectElement;
  const labels = h("textarea", { id: "new-labels", rows: "4", "aria-label": "Labels, one per line" }) as HTMLTextAreaElement;
  const multiple = h("input", { type: "checkbox", id: "new-multiple" }) as HTMLInputElement;
  const num = (id: string, value = "") => {
    const el = h("input", { id, inputmode: "decimal" }) as HTMLInputElement;
    el.value = value;
    return el;
  };
  const overlap = num("new-overlap", "3");
  const minOverlap = num("new-min-overlap");
  const target = num("new-confidence-target");
  const gold = num("new-gold-rate");
  const instructions = h("textarea", { id: "new-instructions", rows: "2", "aria-label": "Instructions" }) as HTMLTextAreaElement;
  const preview = h("pre", { id: "schema-preview", "aria-live": "polite" });
  const read = (): SchemaForm => ({
    kind: kind.value as SchemaKind,
    labels: labels.value,
    multiple: multiple.checked,
    overlap: overlap.value,
    minOverlap: minOverlap.value,
    confidenceTarget: target.value,
    goldRate: gold.value,
    instructions: instructions.value,
  });
  const update = () => {
    const out = schemaFromForm(read());
    preview.textContent = "schema" in out ? JSON.stringify(out.schema, null, 2) : out.error;
    preview.classList.toggle("error", "error" in out);
  };
  const form = h(
    "form",
    {
      class: "card requester schema-form",
      id: "new-project-form",
      oninput: update,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const out = schemaFromForm(read());
        if ("error" in out) {
          notice = out.error;
          return paintError(form);
        }
        try {
          const created = await ipc.createProject(name.value, JSON.stringify(out.schema));
          await goto({ name: "project", id: created.id });
        } catch (err) {
          notice = errorMessage(err);
          paintError(form);
        }
      },
    },
    h("h1", {}, "New project"),
    field("Name", name),
    field("Kind", kind, "classification, rating scale, pairwise comparison (A vs B), free text, text spans (entities) or boxes on images"),
    field("Labels", labels, "one per line — the scale points for a rating, the verdicts for pairwise (default A, B, tie), the entity types or object classes; none for free text"),
    h("label", { class: "inline" }, multiple, " several labels per answer (classification)"),
    h(
      "div",
      { class: "form-row" },
      field("Overlap (most answers per task)", overlap),
      field("Minimum overlap", minOverlap, "with a confidence target: ask this many first"),
      field("Confidence target", target, "e.g. 0.8 or 80%"),
      field("Gold rate", gold, "share of each annotator's tasks drawn from gold"),
    ),
    field("Instructions", instructions),
    h("details", { open: true }, h("summary", {}, "Schema"), preview),
    h("p", { class: "error", role: "alert", id: "notice" }, notice),
    h("p", {}, h("button", { type: "submit", id: "create-project" }, "Create project"), " ", h("button", { type: "button", class: "link", onclick: () => void goto({ name: "list" }) }, "Cancel (Esc)")),
  );
  app.replaceChildren(form);
  update();
  name.focus();
}

/** Every key of the requester's screen on show, for `?`. */
const SCREEN_KEYS: Record<Screen["name"], [string, string][]> = {
  list: [["1–9", "open that project"], ["N", "new project"], ["T", "light or dark theme"], ["Q", "sign out"]],
  project: [
    ["1–6", "overview, people, tasks, quality, batches and export, settings"],
    ["U", "upload a batch (or drop a file on the Batches tab)"],
    ["R", "refresh the figures now (they refresh every 30 s)"],
    ["J", "export JSONL"],
    ["C", "export CSV"],
    ["Esc or Backspace", "all projects"],
    ["T", "light or dark theme"],
  ],
  new: [["Tab", "next field"], ["Enter", "create the project"], ["Esc", "cancel"]],
};

function toggleHelp() {
  const open = app.querySelector("#help");
  if (open) return open.remove();
  const list = h("dl", { class: "help", id: "help", "aria-label": "Keyboard shortcuts" });
  for (const [key, what] of [...SCREEN_KEYS[screen.name], ["?", "show or hide this help"]]) list.append(h("dt", {}, key), h("dd", {}, what));
  app.querySelector(".requester")?.append(list);
}

function paintError(form: HTMLElement) {
  const el = form.querySelector("#notice");
  if (el) el.textContent = notice;
}

document.addEventListener("keydown", (e) => {
  if (!app?.querySelector(".requester")) return;
  const target = e.target as HTMLElement | null;
  const typing = target !== null && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
  if (e.key === "?" && !typing) {
    e.preventDefault();
    return toggleHelp();
  }
  if (e.key === "Escape" && screen.name !== "list") {
    e.preventDefault();
    return void goto({ name: "list" });
  }
  if (typing) return;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (screen.name === "list") {
    if (/^[1-9]$/.test(key)) {
      const p = projects[Number(key) - 1];
      if (p) void goto({ name: "project", id: p.id });
    } else if (key === "n") {
      e.preventDefault();
      void goto({ name: "new" });
    } else if (key === "q") {
      window.clearInterval(refreshTimer);
      signOut();
    }
  } else if (screen.name === "project") {
    const id = screen.id;
    if (/^[1-6]$/.test(key)) switchTab(TABS[Number(key) - 1][0]);
    else if (key === "u") (app.querySelector("#upload-input") as HTMLInputElement | null)?.click();
    else if (key === "r") void goto(screen, true);
    else if (key === "j") void exportAs(id, "jsonl");
    else if (key === "c") void exportAs(id, "csv");
    else if (key === "Backspace") void goto({ name: "list" });
  }
});
