// Tessera desktop UI: sign-in, project choice, and the keyboard-first labeling screen.
// All state that matters lives on the Rust side (local SQLite); this file only paints it.
import type { SessionInfo, SyncStatus, TaskView } from "./bindings";
import { errorMessage, ipc } from "./ipc";
import { actionForKey, formatScore, pick } from "./keys";

const app = document.getElementById("app") as HTMLElement;
const statusBar = document.getElementById("status-bar") as HTMLElement;

type Attrs = Record<string, string | boolean | ((e: Event) => void)>;

/** Builds an element; strings become text nodes, so task text is never parsed as HTML. */
function h(tag: string, attrs: Attrs = {}, ...children: (Node | string | null)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null) el.append(c);
  return el;
}

let session: SessionInfo | null = null;
let task: TaskView | null = null;
let selection: string[] = [];
/** Set while revising an earlier answer (Backspace); the task id being revised. */
let revising: number | null = null;
let busy = false;
let notice = "";
let helpOpen = false;

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
    "aria-label": "Annotator token",
  }) as HTMLInputElement;
  const err = h("p", { id: "sign-in-error", class: "error", role: "alert" }, error);
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
    h("p", { class: "muted" }, "Sign in to your team's queue server as an annotator."),
    h("label", {}, "Server URL", server),
    h("label", {}, "Annotator token", token),
    h("button", { id: "sign-in", type: "submit" }, "Sign in"),
    err,
  );
  show(form);
  (server.value ? token : server).focus();
}

async function afterSignIn() {
  if (!session) return showSignIn();
  if (session.project_id === null) return showProjects();
  await showLabeling();
}

function showProjects() {
  if (!session) return;
  statusBar.hidden = true;
  const list = h("ol", { class: "projects" });
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
      h("button", { class: "link", onclick: signOut }, "Sign out"),
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
  await ipc.signOut();
  session = null;
  task = null;
  await showSignIn();
}

// ---------------------------------------------------------------- labeling

async function showLabeling() {
  statusBar.hidden = false;
  revising = null;
  setTask(await ipc.nextTask());
  void refreshStatus();
}

function setTask(next: TaskView | null) {
  task = next;
  selection = next?.answer ? [...next.answer] : [];
  paint();
}

function projectName(): string {
  return session?.projects.find((p) => p.id === session?.project_id)?.name ?? "";
}

function paint() {
  const header = h(
    "header",
    { class: "top" },
    h("span", { class: "project-name" }, projectName()),
    h("span", { class: "muted" }, session ? `signed in as ${session.annotator}` : ""),
  );
  if (!task) {
    show(
      header,
      h(
        "section",
        { class: "card empty", id: "no-task" },
        h("h2", {}, "No task in hand"),
        h("p", {}, "Fetching more tasks from the server… Answers you made are safe on this device."),
      ),
    );
    return;
  }
  const t = task;
  const body = h("div", { class: "task-body" });
  if (t.text) body.append(h("p", { id: "task-text", class: "task-text" }, t.text));
  if (t.image) body.append(h("img", { class: "task-image", src: t.image, alt: "Task image" }));

  const predicted = t.prediction?.labels ?? [];
  const options = h("div", { class: "labels", role: "group", "aria-label": "Labels" });
  t.labels.forEach((label, i) => {
    const chosen = selection.includes(label);
    options.append(
      h(
        "button",
        {
          class: `label-option${chosen ? " chosen" : ""}${predicted.includes(label) ? " suggested" : ""}`,
          "data-label": label,
          "aria-pressed": chosen ? "true" : "false",
          tabindex: "-1",
          onclick: () => act({ kind: "pick", index: i }),
        },
        h("kbd", {}, String(i + 1)),
        ` ${label}`,
      ),
    );
  });

  const prediction = t.prediction
    ? h(
        "aside",
        { class: "prediction", id: "prediction", "aria-label": "Machine prediction" },
        h("span", { class: "badge" }, "Machine prediction"),
        h("strong", {}, t.prediction.labels.join(", ")),
        h("span", { class: "score" }, formatScore(t.prediction.score)),
        h("span", { class: "muted" }, t.prediction.model_version ? `model ${t.prediction.model_version}` : ""),
      )
    : null;

  show(
    header,
    h(
      "section",
      { class: "card task", id: "task", "data-task-id": String(t.task_id) },
      revising !== null ? h("p", { class: "revising", id: "revising" }, "Revising your earlier answer — Enter saves a new revision") : null,
      t.instructions ? h("p", { class: "instructions" }, t.instructions) : null,
      body,
      prediction,
      options,
      h(
        "p",
        { class: "hints" },
        h("kbd", {}, "1–9"),
        " pick  ",
        h("kbd", {}, "Enter"),
        " submit  ",
        h("kbd", {}, "S"),
        " skip  ",
        h("kbd", {}, "Backspace"),
        " previous  ",
        h("kbd", {}, "?"),
        " help",
      ),
      notice ? h("p", { class: "error", role: "alert" }, notice) : null,
      helpOpen ? helpPanel() : null,
    ),
  );
}

function helpPanel(): HTMLElement {
  return h(
    "dl",
    { class: "help", id: "help" },
    h("dt", {}, "1–9"),
    h("dd", {}, "pick a label (toggle for multiple choice)"),
    h("dt", {}, "Enter"),
    h("dd", {}, "save the answer and go to the next task"),
    h("dt", {}, "S"),
    h("dd", {}, "skip this task"),
    h("dt", {}, "Backspace"),
    h("dd", {}, "go back and revise the previous answer"),
    h("dt", {}, "?"),
    h("dd", {}, "show or hide this help"),
  );
}

async function act(action: NonNullable<ReturnType<typeof actionForKey>>) {
  if (busy) return;
  if (action.kind === "help") {
    helpOpen = !helpOpen;
    return paint();
  }
  if (action.kind === "back") return goBack();
  if (!task) return;
  const t = task;
  if (action.kind === "pick") {
    const label = t.labels[action.index];
    if (label === undefined) return;
    selection = pick(selection, label, t.multiple);
    notice = "";
    return paint();
  }
  busy = true;
  try {
    if (action.kind === "submit") {
      if (selection.length === 0) {
        notice = "Pick a label first (keys 1–9).";
        return paint();
      }
      // The answer is on disk when this returns; only then do we move on.
      const next = await ipc.submitAnswer(t.task_id, selection);
      revising = null;
      notice = "";
      setTask(next);
    } else if (action.kind === "skip") {
      const next = await ipc.skipTask(t.task_id);
      revising = null;
      notice = "";
      setTask(next);
    }
  } catch (e) {
    notice = errorMessage(e);
    paint();
  } finally {
    busy = false;
    void refreshStatus();
  }
}

async function goBack() {
  try {
    const previous = await ipc.previousTask(revising);
    if (!previous) {
      notice = "Nothing earlier to revise.";
      return paint();
    }
    revising = previous.task_id;
    notice = "";
    setTask(previous);
  } catch (e) {
    notice = errorMessage(e);
    paint();
  }
}

document.addEventListener("keydown", (e) => {
  if (!task && e.key !== "Backspace") return;
  const target = e.target as HTMLElement | null;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
  if (!app.querySelector(".task, #no-task")) return;
  const action = actionForKey(e.key, task?.labels.length ?? 0);
  if (!action) return;
  e.preventDefault();
  void act(action);
});

// ---------------------------------------------------------------- status bar

function paintStatus(s: SyncStatus) {
  const parts: HTMLElement[] = [
    h("span", { id: "online-state", class: s.online ? "online" : "offline" }, s.online ? "● Online" : "○ Offline"),
    h("span", {}, h("span", { id: "pending-count" }, String(s.pending)), " waiting to sync"),
    h("span", {}, h("span", { id: "remaining-count" }, String(s.remaining)), " tasks in hand"),
    h("span", {}, h("span", { id: "done-today" }, String(s.done_today)), " done today"),
  ];
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
  if (s.last_error && !s.online) parts.push(h("span", { class: "muted", title: s.last_error }, "retrying…"));
  statusBar.replaceChildren(...parts);
}

async function refreshStatus() {
  if (!session || statusBar.hidden) return;
  try {
    const s = await ipc.syncStatus();
    paintStatus(s);
    // Tasks may have arrived in the background while the screen was empty.
    if (!task && revising === null && s.remaining > 0) setTask(await ipc.nextTask());
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
