// Tessera desktop UI: sign-in, project choice, and the keyboard-first labeling screen.
// All state that matters lives on the Rust side (local SQLite); this file only paints it.
import type { RefusedView, ReviewView, SessionInfo, SyncStatus, TaskView } from "./bindings";
import { inClearToAnotherHost } from "./address";
import { applyTheme, h, toggleTheme } from "./dom";
import { errorMessage, ipc } from "./ipc";
import { type Draft, draftOf, editAnswer, emptyAnswerAllowed } from "./edits";
import { type Action, actionForKey, type Mode } from "./keys";
import { showDashboard } from "./requester";
import { dragBox, formatBox } from "./boxes";
import { renderAnswers, renderTask, type ScreenState } from "./task_view";

const app = document.getElementById("app") as HTMLElement;
const statusBar = document.getElementById("status-bar") as HTMLElement;

let session: SessionInfo | null = null;
let task: TaskView | null = null;
/** Set while revising an earlier answer (Backspace); the task id being revised. */
let revising: number | null = null;
/** Answers on their way to disk, in key order: one write at a time, the screen never waits. */
let writes: Promise<void> = Promise.resolve();
/** Tasks answered or skipped on this screen (never shown again from a stale prefetch). */
const done = new Set<number>();
/** The tasks to show next, prefetched from the local store so the next paint needs no IPC. */
let upcoming: TaskView[] = [];
let saving = 0;
/** Labeling, or the review queue (project reviewers; online only). */
let mode: Mode = "label";
/** Review mode: the tasks waiting for a verdict, the one on screen first. */
let reviewQueue: ReviewView[] = [];
let notice = "";
let helpOpen = false;
/** The annotator rejected the current task's machine prediction. */
let rejected = false;
/** The answer being built (labels, text, spans or boxes) with its cursors. */
let draft: Draft = draftOf(null);
/** The current answer is flagged unsure (U). */
let unsure = false;
/** The skip key asked why (a digit answers). */
let skipping = false;
/** The server suspended this annotator from the project: no new tasks will come. */
let suspended = false;

function show(...nodes: HTMLElement[]) {
  app.replaceChildren(...nodes);
}

// ---------------------------------------------------------------- sign-in

async function showSignIn(error = "") {
  statusBar.hidden = true;
  const server = h("input", { id: "server-input", type: "url", required: true, "aria-label": "Server URL" }) as HTMLInputElement;
  server.value = await ipc.defaultServer();
  const token = h("input", {
    id: "token-input",
    type: "password",
    required: true,
    autocomplete: "off",
    "aria-label": "Token",
  }) as HTMLInputElement;
  const err = h("p", { id: "sign-in-error", class: "error", role: "alert" }, error);
  const clear = h(
    "p",
    { id: "plain-http-warning", class: "error", hidden: true },
    "This address is not encrypted (http:// to another machine): your token would travel in the clear. Use https://.",
  );
  const warnIfClear = () => {
    clear.hidden = !inClearToAnotherHost(server.value);
  };
  server.addEventListener("input", warnIfClear);
  warnIfClear();
  const form = h(
    "form",
    {
      class: "card sign-in",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        err.textContent = "Signing in…";
        try {
          session = await ipc.signIn(server.value, token.value);
          await afterSignIn();
        } catch (e2) {
          err.textContent = errorMessage(e2);
        }
      },
    },
    h("h1", {}, "Tessera"),
    h("p", { class: "muted" }, "Sign in to your team's queue server: annotators label, requesters run projects."),
    h("label", {}, "Server URL", server),
    h("label", {}, "Token", token),
    clear,
    h("button", { id: "sign-in", type: "submit" }, "Sign in"),
    err,
  );
  show(form);
  (server.value ? token : server).focus();
}

async function afterSignIn() {
  if (!session) return showSignIn();
  if (session.requester) {
    statusBar.hidden = true;
    return showDashboard(app, () => void signOut());
  }
  if (session.project_id === null) return showProjects();
  await showLabeling();
}

function showProjects() {
  if (!session) return;
  statusBar.hidden = true;
  const list = h("ol", { class: "projects", id: "projects", "aria-label": "Projects (press a digit to open one)" });
  session.projects.forEach((p, i) => {
    list.append(
      h("li", {}, h("button", { class: "project", "data-project": String(p.id), onclick: () => choose(p.id) }, `${i + 1}  ${p.name}`)),
    );
  });
  show(
    h(
      "section",
      { class: "card" },
      h("h1", {}, "Choose a project"),
      session.projects.length ? list : h("p", {}, "No projects on this server yet."),
      h("button", { class: "link", id: "sign-out", onclick: signOut }, "Sign out"),
    ),
  );
  (list.querySelector("button") as HTMLElement | null)?.focus();
}

async function choose(projectId: number) {
  try {
    session = await ipc.chooseProject(projectId);
    await showLabeling();
  } catch (e) {
    notice = errorMessage(e);
    showProjects();
  }
}

async function signOut() {
  await writes;
  await ipc.signOut();
  session = null;
  task = null;
  suspended = false;
  upcoming = [];
  done.clear();
  statusShown = "";
  statusBar.replaceChildren();
  await showSignIn();
}

// ---------------------------------------------------------------- labeling

async function showLabeling() {
  statusBar.hidden = false;
  mode = "label";
  revising = null;
  upcoming = [];
  setTask(await ipc.nextTask());
  void refill();
  void refreshStatus();
}

/** Tops up the prefetched tasks: the open ones after the current task, minus those answered. */
async function refill() {
  try {
    const open = await ipc.upcomingTasks(8);
    upcoming = open.filter((t) => t.task_id !== task?.task_id && !done.has(t.task_id)).slice(0, 5);
  } catch (e) {
    console.error(errorMessage(e));
  }
}

function setTask(next: TaskView | null) {
  task = next;
  draft = draftOf(next?.answer ?? null);
  rejected = false;
  unsure = false;
  skipping = false;
  paint();
}

/**
 * Shows or hides "saving…" alone: a write finishing leaves the rest of the screen, and the
 * frame the next key needs, untouched.
 */
function paintSaving() {
  const shown = app.querySelector("#saving");
  if (saving === 0) shown?.remove();
  else if (!shown) paint();
}

function projectName(): string {
  return session?.projects.find((p) => p.id === session?.project_id)?.name ?? "";
}

function paint() {
  const header = h(
    "header",
    { class: "top" },
    h("span", { class: "project-name" }, projectName(), mode === "review" ? h("span", { class: "mode-badge" }, " Review") : null),
    saving > 0 ? h("span", { class: "muted", id: "saving" }, "saving…") : null,
    h("span", { class: "muted" }, session ? `signed in as ${session.annotator}` : ""),
  );
  if (mode === "review") {
    const item = reviewQueue[0];
    if (!item) {
      show(
        header,
        h(
          "section",
          { class: "card empty", id: "no-review" },
          h("h2", {}, "Nothing waiting for review"),
          notice ? h("p", { class: "error", role: "alert", id: "notice" }, notice) : null,
          h("p", { class: "muted" }, h("kbd", {}, "V"), " back to labeling  ", h("kbd", {}, "P"), " projects"),
        ),
      );
      return;
    }
    const state: ScreenState = { ...draft, revising: false, rejected: false, helpOpen, notice, mode, unsure: false, skipping: false };
    show(header, renderTask(item.task, state, handlers), renderAnswers(item));
    if (item.task.kind === "text" && !helpOpen) focusAnswerBox();
    return;
  }
  if (!task && suspended) {
    show(
      header,
      h(
        "section",
        { class: "card empty", id: "suspended", role: "alert" },
        h("h2", {}, "You are suspended from this project"),
        h(
          "p",
          {},
          "Your answers fell below this project's quality bar, so no new tasks will come. Answers you already made are kept and still sync.",
        ),
        h("p", {}, "Ask the project's requester about it: they can see your record."),
        h("p", { class: "muted" }, h("kbd", {}, "P"), " other projects  ", h("kbd", {}, "Backspace"), " revise the last answer"),
        h("button", { class: "link", id: "suspended-sign-out", onclick: signOut }, "Sign out"),
      ),
    );
    return;
  }
  if (!task) {
    show(
      header,
      h(
        "section",
        { class: "card empty", id: "no-task" },
        h("h2", {}, "No task in hand"),
        h("p", {}, "Fetching more tasks from the server… Answers you made are safe on this device."),
        h("p", { class: "muted" }, h("kbd", {}, "P"), " projects  ", h("kbd", {}, "Backspace"), " revise the last answer"),
      ),
    );
    return;
  }
  const state: ScreenState = { ...draft, revising: revising !== null, rejected, helpOpen, notice, mode, unsure, skipping };
  show(header, renderTask(task, state, handlers));
  // Free text: the cursor goes straight into the box, so typing starts at once.
  if (task.kind === "text" && !helpOpen) focusAnswerBox();
}

const handlers = {
  pick: (index: number) => void act({ kind: "pick", index }),
  text: (value: string) => {
    draft = { ...draft, selection: value === "" ? [] : [value] };
  },
  select: (from: number, to: number) => {
    draft = { ...draft, cursor: { anchor: from, head: to } };
    paint();
  },
  draw: (x0: number, y0: number, x1: number, y1: number) => {
    const t = mode === "review" ? reviewQueue[0]?.task : task;
    const label = t?.labels[draft.box.label];
    const drawn = label === undefined ? null : dragBox(x0, y0, x1, y1, label);
    if (!drawn) return;
    const selection = [...draft.selection, formatBox(drawn)];
    draft = { ...draft, selection, box: { ...draft.box, selected: selection.length - 1 } };
    paint();
  },
};

/** Applies an editing key to the draft and repaints; whether the key was an edit. */
function applyEdit(t: TaskView, action: Action): boolean {
  const edited = editAnswer(t, draft, action);
  if (!edited) return false;
  draft = edited;
  notice = "";
  paint();
  return true;
}

/** The labeling screen (not the projects, not review) is showing. */
function onLabelingScreen(): boolean {
  return mode === "label" && app.querySelector(".task, #no-task") !== null;
}

function focusAnswerBox() {
  const box = app.querySelector<HTMLTextAreaElement>("#answer-text");
  if (!box) return;
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

/** The labels an answer would hold now; for free text, the trimmed text. */
function answerLabels(t: TaskView): string[] {
  if (t.kind !== "text") return draft.selection;
  const text = (draft.selection[0] ?? "").trim();
  return text ? [text] : [];
}

async function act(action: Action) {
  if (mode === "review") return actReview(action);
  switch (action.kind) {
    case "review":
      return showReview();
    case "help":
      helpOpen = !helpOpen;
      return paint();
    case "back":
      return goBack();
    case "projects":
      task = null;
      revising = null;
      return showProjects();
    case "leave":
      (document.activeElement as HTMLElement | null)?.blur();
      return;
    case "edit":
      return focusAnswerBox();
  }
  if (!task) return;
  const t = task;
  if (applyEdit(t, action)) return;
  switch (action.kind) {
    case "correct":
      draft = draftOf(t.prediction?.labels ?? []);
      rejected = false;
      notice = "Correcting the prediction: change it, then Enter.";
      return paint();
    case "reject":
      rejected = true;
      draft = { ...draft, selection: draft.selection.filter((l) => !(t.prediction?.labels ?? []).includes(l)) };
      notice = "";
      return paint();
    case "unsure":
      unsure = !unsure;
      return paint();
    case "skip":
      // The first S asks why; a second one skips without a reason.
      skipping = !skipping;
      if (skipping) return paint();
      return commit(t, [], { reason: null });
    case "skipWith":
      skipping = false;
      return commit(t, [], { reason: action.reason });
    case "cancel":
      skipping = false;
      return paint();
    case "accept":
      return commit(t, t.prediction?.labels ?? [], null);
    case "submit": {
      const labels = answerLabels(t);
      if (labels.length === 0 && !emptyAnswerAllowed(t.kind)) {
        notice = t.kind === "text" ? "Type the answer first (E)." : "Pick an answer first.";
        return paint();
      }
      return commit(t, labels, null);
    }
  }
}

// ---------------------------------------------------------------- review

async function showReview() {
  await writes;
  mode = "review";
  notice = "";
  draft = draftOf(null);
  try {
    reviewQueue = await ipc.reviewQueue(20);
  } catch (e) {
    reviewQueue = [];
    notice = errorMessage(e);
  }
  paint();
}

/** The review screen's keys: pick a verdict, record it, take the consensus, move on. */
async function actReview(action: Action) {
  const item = reviewQueue[0];
  switch (action.kind) {
    case "review":
      return showLabeling();
    case "projects":
      mode = "label";
      return showProjects();
    case "help":
      helpOpen = !helpOpen;
      return paint();
    case "leave":
      (document.activeElement as HTMLElement | null)?.blur();
      return;
    case "edit":
      return focusAnswerBox();
  }
  if (!item) return;
  const t = item.task;
  if (applyEdit(t, action)) return;
  if (action.kind === "skip") {
    reviewQueue.push(reviewQueue.shift() as ReviewView);
    draft = draftOf(null);
    notice = "";
    return paint();
  }
  const labels = action.kind === "accept" ? (item.consensus?.labels ?? []) : answerLabels(t);
  if (action.kind !== "accept" && action.kind !== "submit") return;
  if (labels.length === 0 && (action.kind === "accept" || !emptyAnswerAllowed(t.kind))) {
    notice = action.kind === "accept" ? "No consensus to take: pick the verdict." : "Pick the verdict first.";
    return paint();
  }
  try {
    await ipc.submitReview(t.task_id, labels);
    reviewQueue.shift();
    draft = draftOf(null);
    notice = "";
    if (reviewQueue.length === 0) reviewQueue = await ipc.reviewQueue(20);
  } catch (e) {
    notice = errorMessage(e);
  }
  paint();
}

/**
 * Moves to the next task at once, from the prefetched ones, and writes the answer behind
 * it: the status bar counts it as pending once it is on disk ("saving…" until then). A
 * write that fails brings its task back with the reason.
 */
function commit(t: TaskView, labels: string[], skip: { reason: string | null } | null) {
  const flaggedUnsure = unsure && !skip;
  const saidRejected = rejected && !skip;
  done.add(t.task_id);
  revising = null;
  notice = "";
  saving += 1;
  setTask(upcoming.shift() ?? null);
  writes = writes.then(async () => {
    try {
      const next = skip
        ? await ipc.skipTask(t.task_id, skip.reason)
        : await ipc.submitAnswer(t.task_id, labels, flaggedUnsure, saidRejected);
      saving -= 1;
      // The annotator may have moved on to another screen meanwhile: leave it be.
      if (!onLabelingScreen()) return;
      if (!task && next && !done.has(next.task_id)) setTask(next);
      else paintSaving();
    } catch (e) {
      saving -= 1;
      done.delete(t.task_id);
      notice = `Not saved: ${errorMessage(e)}`;
      if (!onLabelingScreen()) return; // still open on disk: it comes round again
      if (task) upcoming.unshift(task);
      setTask({ ...t, answer: labels.length ? labels : null });
    }
    void refreshStatus();
  });
  void refill();
}

async function goBack() {
  await writes;
  try {
    const previous = await ipc.previousTask(revising);
    if (!previous) {
      notice = "Nothing earlier to revise.";
      return paint();
    }
    if (task && revising === null) upcoming.unshift(task);
    revising = previous.task_id;
    notice = "";
    setTask(previous);
  } catch (e) {
    notice = errorMessage(e);
    paint();
  }
}

/**
 * Key-to-paint times of the labeling screen (ms since the key event), newest last; the e2e
 * suite reads them. `dom`: the screen's DOM updated; `frame`: the next frame begins;
 * `painted`: that frame is done (the first task after it runs).
 */
const keyToPaint: { action: string; dom: number; frame: number; painted: number }[] = [];
(window as unknown as { tesseraMetrics: object }).tesseraMetrics = { keyToPaint };

function measurePaint(action: string, since: number, dom: number) {
  requestAnimationFrame(() => {
    const frame = performance.now();
    setTimeout(() => {
      keyToPaint.push({ action, dom: dom - since, frame: frame - since, painted: performance.now() - since });
      if (keyToPaint.length > 1000) keyToPaint.shift();
    }, 0);
  });
}

applyTheme(localStorage.getItem("tessera-theme"));

// T switches between light and dark on every screen (not while typing).
document.addEventListener("keydown", (e) => {
  const target = e.target as HTMLElement | null;
  if ((e.key === "t" || e.key === "T") && !["INPUT", "TEXTAREA", "SELECT"].includes(target?.tagName ?? "")) {
    e.preventDefault();
    e.stopImmediatePropagation();
    toggleTheme();
  }
});

document.addEventListener("keydown", (e) => {
  // The project list: a digit opens that project.
  if (app.querySelector("#projects") && /^[1-9]$/.test(e.key) && session) {
    const p = session.projects[Number(e.key) - 1];
    if (p) {
      e.preventDefault();
      void choose(p.id);
    }
    return;
  }
  if (app.querySelector("#refused") && (e.key === "Escape" || e.key === "Backspace")) {
    e.preventDefault();
    void showLabeling();
    return;
  }
  if (!app.querySelector(".task, #no-task, #no-review, #suspended")) return;
  const shown = mode === "review" ? (reviewQueue[0]?.task ?? null) : task;
  const target = e.target as HTMLElement | null;
  if (target?.tagName === "INPUT") return;
  const action = actionForKey(e.key, {
    kind: shown?.kind ?? "classification",
    labelCount: shown?.labels.length ?? 0,
    hasPrediction: !!shown?.prediction,
    typing: target?.tagName === "TEXTAREA",
    shift: e.shiftKey,
    mode,
    skipping: skipping && mode === "label",
  });
  if (!action || (!shown && !["back", "projects", "help", "review"].includes(action.kind))) return;
  e.preventDefault();
  // The key's own time stamp when the engine gives one on the same clock, else now.
  const since = e.timeStamp > 0 && e.timeStamp <= performance.now() ? e.timeStamp : performance.now();
  const name = mode === "review" ? `review ${action.kind}` : action.kind;
  void act(action).then(() => measurePaint(name, since, performance.now()));
});

// ---------------------------------------------------------------- status bar

/** The status last painted: an unchanged one is not painted again. */
let statusShown = "";

function paintStatus(s: SyncStatus) {
  const key = JSON.stringify(s);
  if (key === statusShown && statusBar.childElementCount > 0) return;
  statusShown = key;
  const parts: HTMLElement[] = [
    h("span", { id: "online-state", class: s.online ? "online" : "offline" }, s.online ? "● Online" : "○ Offline"),
    h("span", {}, h("span", { id: "pending-count" }, String(s.pending)), " waiting to sync"),
    h("span", {}, h("span", { id: "remaining-count" }, String(s.remaining)), " tasks in hand"),
    h("span", {}, h("span", { id: "done-today" }, String(s.done_today)), " done today"),
  ];
  if (s.seconds_per_task !== null) {
    parts.push(h("span", {}, h("span", { id: "seconds-per-task" }, s.seconds_per_task.toFixed(1)), " s per task"));
  }
  if (s.syncing) {
    const { pushed, total } = s.syncing;
    parts.push(
      h(
        "span",
        { id: "sync-progress" },
        h("progress", { max: String(total), value: String(pushed), "aria-label": "sync progress" }),
        ` syncing ${pushed} of ${total}`,
      ),
    );
  }
  if (s.refused > 0) {
    parts.push(
      h(
        "button",
        { class: "link refused", id: "refused-count", title: "Answers the server refused: see why", onclick: () => void showRefused() },
        `${s.refused} refused`,
      ),
    );
  }
  if (s.last_error && !s.online) parts.push(h("span", { class: "muted", title: s.last_error }, "retrying…"));
  statusBar.replaceChildren(...parts);
}

/** The answers the server refused, each with its task and the reason; Escape goes back. */
async function showRefused() {
  await writes;
  let items: RefusedView[] = [];
  let error = "";
  try {
    items = await ipc.refusedAnswers();
  } catch (e) {
    error = errorMessage(e);
  }
  const list = h("ol", { class: "refused-list" });
  for (const r of items) {
    list.append(
      h(
        "li",
        { "data-task-id": String(r.task_id) },
        h("p", { class: "refused-task" }, r.text ?? `task ${r.task_id}`),
        h("p", {}, "Your answer: ", h("strong", {}, r.skipped ? "(skipped)" : r.labels.join(", "))),
        h("p", { class: "error" }, `Refused: ${r.reason} (${r.code})`),
        h("p", { class: "muted" }, r.answer_again ? "It is back among your tasks: answer it again." : "Nothing to redo: the server keeps no answer of yours for it."),
      ),
    );
  }
  show(
    h(
      "section",
      { class: "card", id: "refused" },
      h("h2", {}, "Answers the server refused"),
      error ? h("p", { class: "error", role: "alert" }, error) : null,
      items.length ? list : h("p", {}, "None: the server took every answer you made."),
      h("button", { class: "link", id: "refused-back", onclick: () => void showLabeling() }, "Back to labeling (Esc)"),
    ),
  );
}

async function refreshStatus() {
  if (!session || statusBar.hidden) return;
  try {
    const s = await ipc.syncStatus();
    paintStatus(s);
    if (s.suspended !== suspended) {
      suspended = s.suspended;
      if (mode === "label" && !task && app.querySelector("#no-task, #suspended")) paint();
    }
    // Tasks may have arrived in the background while the screen was empty.
    if (mode === "label" && !task && revising === null && s.remaining > 0 && saving === 0) {
      await refill();
      setTask(upcoming.shift() ?? null);
    }
  } catch (e) {
    console.error(errorMessage(e));
  }
}

setInterval(() => void refreshStatus(), 1000);

// ---------------------------------------------------------------- start

(async () => {
  try {
    session = await ipc.restoreSession();
  } catch (e) {
    return showSignIn(errorMessage(e));
  }
  if (session) await afterSignIn();
  else await showSignIn();
})();
