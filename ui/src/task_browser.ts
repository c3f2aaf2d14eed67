// The project screen's task browser: a page of tasks at a time, narrowed by status, text,
// consensus label, annotator, batch or confidence, in upload order or the most disputed first; one task opened with every answer, and sent
// to review, cancelled or moved up the queue. Its state outlives the project
// screen's repaints (every 30 s), so a filter or an open task stays put.
import type { TaskDetailView, TaskFilterView, TaskRowView } from "./bindings";
import { h } from "./dom";
import { errorMessage, ipc } from "./ipc";
import { formatScore } from "./keys";

const STATUSES = ["open", "complete", "needs-review", "stuck", "gold", "cancelled"];

/** What the filters offer: the project's labels, annotators (id, name) and batches. */
export type Choices = { labels: string[]; annotators: [number, string][]; batches: number[] };

type State = {
  projectId: number;
  filter: TaskFilterView;
  rows: TaskRowView[];
  next: string | null;
  detail: TaskDetailView | null;
  notice: string;
  loaded: boolean;
};

let state: State | null = null;
let holder: HTMLElement | null = null;
let choices: Choices = { labels: [], annotators: [], batches: [] };

const NO_FILTER: TaskFilterView = {
  status: null,
  search: null,
  label: null,
  annotator: null,
  batch: null,
  max_confidence: null,
  lowest_confidence_first: false,
};

/** The browser for `projectId`, keeping what it showed when it is the same project. */
export function taskBrowser(projectId: number, offered: Choices): HTMLElement {
  choices = offered;
  if (state?.projectId !== projectId) {
    state = { projectId, filter: { ...NO_FILTER }, rows: [], next: null, detail: null, notice: "", loaded: false };
  }
  holder = h("section", { class: "task-browser", id: "task-browser", "aria-label": "Tasks" });
  render();
  if (!state.loaded) void load(false);
  return holder;
}

/** The first page for the current filters, or (`more`) the next one. */
async function load(more: boolean) {
  const s = state;
  if (!s) return;
  try {
    const page = await ipc.browseTasks(s.projectId, s.filter, more ? s.next : null);
    s.rows = more ? [...s.rows, ...page.tasks] : page.tasks;
    s.next = page.next_cursor;
    s.loaded = true;
  } catch (e) {
    s.notice = errorMessage(e);
  }
  render();
}

async function open(taskId: number) {
  const s = state;
  if (!s) return;
  try {
    s.detail = await ipc.taskDetail(s.projectId, taskId);
    s.notice = "";
  } catch (e) {
    s.notice = errorMessage(e);
  }
  render();
}

/** Runs `action` on one task, says what it did, and reads the task and the page again. */
async function act(taskId: number, action: (projectId: number) => Promise<string>) {
  const s = state;
  if (!s) return;
  try {
    const said = await action(s.projectId);
    s.detail = await ipc.taskDetail(s.projectId, taskId);
    await load(false);
    s.notice = said;
  } catch (e) {
    s.notice = errorMessage(e);
  }
  render();
}

const sendToReview = (taskId: number) =>
  act(taskId, async (p) =>
    (await ipc.sendToReview(p, [taskId])) === 1 ? `Task ${taskId} is waiting for review.` : `Task ${taskId} was left as it is (gold, cancelled or reviewed).`,
  );

const cancel = (taskId: number) =>
  act(taskId, async (p) => ((await ipc.cancelTasks(p, [taskId])) === 1 ? `Task ${taskId} is cancelled: no one will be asked for it.` : `Task ${taskId} was already cancelled.`));

/** Leased before every task of a lower priority, whatever its batch. */
const TOP_PRIORITY = 1_000;

const raise = (taskId: number) =>
  act(taskId, async (p) =>
    (await ipc.prioritizeTasks(p, [taskId], TOP_PRIORITY)) === 1 ? `Task ${taskId} goes to the front of the queue (priority ${TOP_PRIORITY}).` : `Task ${taskId} was left as it is (gold or cancelled).`,
  );

function row(t: TaskRowView): HTMLElement {
  const tr = h(
    "tr",
    { "data-task": String(t.task_id), tabindex: "0", class: state?.detail?.task_id === t.task_id ? "selected" : "" },
    h("td", { class: "num" }, String(t.task_id)),
    h("td", {}, h("span", { class: `status status-${t.status}` }, t.status)),
    h("td", {}, t.consensus.length ? t.consensus.join(", ") : "—"),
    h("td", { class: "num" }, t.confidence === null ? "—" : formatScore(t.confidence)),
    h("td", { class: "num" }, String(t.answers)),
    h("td", { class: "preview" }, t.preview),
  );
  const go = () => void open(t.task_id);
  tr.addEventListener("click", go);
  tr.addEventListener("keydown", (e) => {
    if (e.key === "Enter") go();
  });
  return tr;
}

function detail(d: TaskDetailView): HTMLElement {
  const answers = d.answers.map((a) =>
    h(
      "li",
      {},
      h("strong", {}, a.annotator),
      `: ${a.labels.join(", ") || "(none)"}`,
      a.unsure ? h("span", { class: "flag" }, " unsure") : null,
      a.prediction_verdict ? h("span", { class: "muted" }, ` · ${a.prediction_verdict} the prediction`) : null,
      h("span", { class: "muted" }, ` · ${new Date(a.answered_at).toISOString().slice(0, 16).replace("T", " ")}`),
    ),
  );
  return h(
    "div",
    { class: "task-detail", id: "task-detail", "data-task": String(d.task_id) },
    h("h3", {}, `Task ${d.task_id} · `, h("span", { class: `status status-${d.status}` }, d.status)),
    d.stuck_because ? h("p", { class: "error", id: "task-stuck" }, `No one can take it: ${d.stuck_because}`) : null,
    h("pre", { class: "task-data" }, d.data),
    d.prediction.length ? h("p", {}, "Prediction: ", d.prediction.join(", ")) : null,
    h("ul", { class: "answers", id: "task-answers" }, ...answers),
    d.skips.length ? h("p", { class: "muted" }, `Skipped by ${d.skips.join(", ")}`) : null,
    h(
      "p",
      {},
      "Consensus: ",
      d.consensus.length ? d.consensus.join(", ") : "none yet",
      d.confidence === null ? "" : ` (${formatScore(d.confidence)})`,
      d.review.length ? ` · reviewed: ${d.review.join(", ")}` : "",
    ),
    h(
      "p",
      { class: "inline-form" },
      h("button", { id: "task-review", onclick: () => void sendToReview(d.task_id) }, "Send to review"),
      d.status === "open" || d.status === "stuck" ? h("button", { id: "task-raise", class: "secondary", onclick: () => void raise(d.task_id) }, "Label it next") : null,
      d.status !== "cancelled" && d.status !== "gold" ? h("button", { id: "task-cancel", class: "danger", onclick: () => void cancel(d.task_id) }, "Cancel the task") : null,
    ),
  );
}

/** A select of `options` ([value, shown]) for one filter; "" is "any". */
function choice(id: string, label: string, any: string, options: [string, string][], value: string, set: (v: string) => void): HTMLSelectElement {
  const el = h("select", { id, "aria-label": label }, h("option", { value: "" }, any), ...options.map(([v, shown]) => h("option", { value: v }, shown))) as HTMLSelectElement;
  el.value = value;
  el.addEventListener("change", () => set(el.value));
  return el;
}

function render() {
  const s = state;
  if (!s || !holder) return;
  const f = s.filter;
  const refilter = (change: Partial<TaskFilterView>) => {
    s.filter = { ...s.filter, ...change };
    s.notice = "";
    void load(false);
  };
  const status = choice("task-status", "Show tasks that are", "all tasks", STATUSES.map((v) => [v, v]), f.status ?? "", (v) => refilter({ status: v || null }));
  const label = choice("task-label", "Consensus label", "any label", choices.labels.map((l) => [l, l]), f.label ?? "", (v) => refilter({ label: v || null }));
  const annotator = choice(
    "task-annotator",
    "Answered by",
    "anyone",
    choices.annotators.map(([id, name]) => [String(id), name]),
    f.annotator === null ? "" : String(f.annotator),
    (v) => refilter({ annotator: v ? Number(v) : null }),
  );
  const batch = choice(
    "task-batch",
    "Batch",
    "any batch",
    choices.batches.map((b) => [String(b), `batch ${b}`]),
    f.batch === null ? "" : String(f.batch),
    (v) => refilter({ batch: v ? Number(v) : null }),
  );
  const confidence = choice(
    "task-confidence",
    "Confidence at most",
    "any confidence",
    ["0.5", "0.6", "0.7", "0.8", "0.9"].map((c) => [c, `≤ ${Math.round(Number(c) * 100)}%`]),
    f.max_confidence === null ? "" : String(f.max_confidence),
    (v) => refilter({ max_confidence: v ? Number(v) : null }),
  );
  const search = h("input", { id: "task-search", type: "search", placeholder: "words in the task", "aria-label": "Search the tasks' text" }) as HTMLInputElement;
  search.value = f.search ?? "";
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") refilter({ search: search.value.trim() || null });
  });
  const disputed = h("input", { type: "checkbox", id: "task-disputed" }) as HTMLInputElement;
  disputed.checked = f.lowest_confidence_first;
  disputed.addEventListener("change", () => refilter({ lowest_confidence_first: disputed.checked }));
  const table = h(
    "table",
    { class: "data-table", id: "task-table" },
    h("thead", {}, h("tr", {}, ...["Task", "Status", "Consensus", "Confidence", "Answers", "Text"].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...s.rows.map(row)),
  );
  const parts: (HTMLElement | null)[] = [
    h("div", { class: "task-filters" }, status, label, annotator, batch, confidence, search, h("label", { class: "inline" }, disputed, " lowest confidence first")),
    s.loaded && s.rows.length === 0 ? h("p", { class: "muted", id: "task-none" }, "No tasks like that.") : table,
    s.next ? h("button", { id: "task-more", class: "link", onclick: () => void load(true) }, "More tasks") : null,
    s.notice ? h("p", { class: "notice", id: "task-notice", role: "status" }, s.notice) : null,
    s.detail ? detail(s.detail) : null,
  ];
  holder.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
}
