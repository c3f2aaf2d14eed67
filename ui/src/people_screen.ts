// The project's People tab: who works on it, their role, when they last signed in and
// answered, and suspension; invite a new annotator or reviewer (the token shown once), add
// someone who already has a token, remove, revoke, lift a suspension. Its state outlives
// the project screen's repaints, so a token just shown stays until the requester moves on.
import type { InviteView, PersonView } from "./bindings";
import { h } from "./dom";
import { errorMessage, ipc } from "./ipc";

type State = { projectId: number; people: PersonView[]; invited: InviteView | null; notice: string; loaded: boolean };

let state: State | null = null;
let holder: HTMLElement | null = null;

/** The People tab of `projectId`. */
export function peopleScreen(projectId: number): HTMLElement {
  if (state?.projectId !== projectId) state = { projectId, people: [], invited: null, notice: "", loaded: false };
  holder = h("section", { class: "people", id: "people", "aria-label": "People" });
  render();
  void load();
  return holder;
}

async function load() {
  const s = state;
  if (!s) return;
  try {
    s.people = await ipc.projectPeople(s.projectId);
    s.loaded = true;
  } catch (e) {
    s.notice = errorMessage(e);
  }
  render();
}

/** Runs `action`, says `done` (or why not), and reads the people again. */
async function act(action: () => Promise<unknown>, done: string) {
  const s = state;
  if (!s) return;
  try {
    await action();
    s.notice = done;
  } catch (e) {
    s.notice = errorMessage(e);
  }
  await load();
}

function when(iso: string | null): string {
  return iso === null ? "never" : new Date(iso).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function row(projectId: number, p: PersonView): HTMLElement {
  const actions: HTMLElement[] = [];
  if (p.suspended)
    actions.push(h("button", { class: "small-button", "data-unsuspend": String(p.user_id), onclick: () => void act(() => ipc.unsuspend(projectId, p.user_id), `${p.name}'s suspension is lifted; their gold record starts again.`) }, "Lift suspension"));
  if (p.role !== null && p.role !== "requester")
    actions.push(h("button", { class: "small-button secondary", "data-remove": String(p.user_id), onclick: () => void act(() => ipc.removeMember(projectId, p.user_id), `${p.name} is no longer on this project; their answers stay.`) }, "Remove"));
  if (p.invited && !p.revoked)
    actions.push(h("button", { class: "small-button danger", "data-revoke": String(p.user_id), onclick: () => void act(() => ipc.revokePerson(p.user_id), `${p.name}'s token is revoked.`) }, "Revoke token"));
  return h(
    "tr",
    { "data-person": String(p.user_id), class: p.suspended || p.revoked ? "suspended" : "" },
    h("td", {}, p.name, h("span", { class: "muted" }, ` #${p.user_id}`)),
    h("td", {}, p.role ?? h("span", { class: "muted" }, "not a member"), p.invited ? h("span", { class: "muted" }, " · invited") : null),
    h("td", {}, p.revoked ? h("span", { class: "flag" }, "revoked") : p.suspended ? h("span", { class: "flag" }, "suspended") : "active"),
    h("td", { class: "num" }, String(p.answers)),
    h("td", {}, when(p.last_answer_at)),
    // A requester sees the tokens of their projects' members only.
    h("td", {}, p.role === null && p.last_used_at === null ? "—" : when(p.last_used_at)),
    h("td", { class: "actions" }, ...actions),
  );
}

function roleSelect(id: string, roles: string[]): HTMLSelectElement {
  return h("select", { id, "aria-label": "Role" }, ...roles.map((r) => h("option", { value: r }, r))) as HTMLSelectElement;
}

function inviteForm(projectId: number): HTMLElement {
  const name = h("input", { id: "invite-name", placeholder: "their name", "aria-label": "Name of the person to invite", required: true }) as HTMLInputElement;
  const role = roleSelect("invite-role", ["annotator", "reviewer"]);
  return h(
    "form",
    {
      class: "inline-form",
      id: "invite-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const s = state;
        if (!s || !name.value.trim()) return;
        void (async () => {
          try {
            s.invited = await ipc.invitePerson(projectId, name.value, role.value);
            s.notice = "";
          } catch (err) {
            s.notice = errorMessage(err);
          }
          await load();
        })();
      },
    },
    h("strong", {}, "Invite "),
    name,
    " as ",
    role,
    " ",
    h("button", { type: "submit", id: "invite-go" }, "Invite"),
  );
}

function addForm(projectId: number): HTMLElement {
  const id = h("input", { id: "member-id", inputmode: "numeric", placeholder: "user id", "aria-label": "User id of someone with a token" }) as HTMLInputElement;
  const name = h("input", { id: "member-name", placeholder: "their name", "aria-label": "Their name" }) as HTMLInputElement;
  const role = roleSelect("member-role", ["annotator", "reviewer", "requester"]);
  return h(
    "form",
    {
      class: "inline-form",
      id: "member-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const userId = Number.parseInt(id.value, 10);
        if (!Number.isSafeInteger(userId)) {
          if (state) state.notice = "A user id is a whole number (tessera token list shows them).";
          return render();
        }
        void act(() => ipc.addMember(projectId, userId, name.value, role.value), `User ${userId} is now ${role.value} here.`);
      },
    },
    h("strong", {}, "Add someone who has a token "),
    id,
    name,
    " as ",
    role,
    " ",
    h("button", { type: "submit", id: "member-go" }, "Add"),
  );
}

function tokenBox(invited: InviteView): HTMLElement {
  const token = h("input", { id: "invite-token", readonly: true, value: invited.token, "aria-label": `${invited.name}'s token`, class: "token" }) as HTMLInputElement;
  return h(
    "div",
    { class: "token-box", role: "status", id: "invite-result" },
    h("p", {}, `${invited.name} (#${invited.user_id}) is invited as ${invited.role}. Hand them this token now — it is shown only once, and works in this project only:`),
    token,
    " ",
    h("button", { class: "small-button", onclick: () => void navigator.clipboard?.writeText(invited.token) }, "Copy"),
    " ",
    h("button", { class: "link", onclick: () => { if (state) state.invited = null; render(); } }, "Done"),
  );
}

function render() {
  const s = state;
  if (!s || !holder) return;
  const table = h(
    "table",
    { class: "data-table", id: "people-table" },
    h("thead", {}, h("tr", {}, ...["Person", "Role", "State", "Answers", "Last answer", "Last sign-in", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...s.people.map((p) => row(s.projectId, p))),
  );
  const parts: (HTMLElement | null)[] = [
    s.invited ? tokenBox(s.invited) : null,
    inviteForm(s.projectId),
    addForm(s.projectId),
    s.loaded && !s.people.length ? h("p", { class: "muted" }, "No one works on this project yet: invite someone.") : table,
    s.notice ? h("p", { class: "notice", id: "people-notice", role: "status" }, s.notice) : null,
  ];
  holder.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
}
