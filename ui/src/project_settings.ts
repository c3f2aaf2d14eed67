// The project's Settings tab: the schema edited in place (refused with the server's reason
// when it would leave stored answers meaning nothing), ML backends, archive or restore, and
// delete — only after an export is offered and the project's name typed.
import type { ProjectSummary } from "./bindings";
import { h } from "./dom";
import { errorMessage, ipc } from "./ipc";
import { mlBackendsSection } from "./ml_backends";

/** What the requester typed, kept across the screen's repaints until saved or left. */
let draft: { projectId: number; schema: string } | null = null;

/**
 * `refresh(notice)` repaints the project; `exportFirst` writes a JSONL export and says where;
 * `gone(notice)` goes back to the project list after a delete.
 */
export function settingsScreen(
  p: ProjectSummary,
  schema: string,
  refresh: (notice: string, ok?: boolean) => void,
  exportFirst: () => Promise<string>,
  gone: (notice: string) => void,
): HTMLElement {
  if (draft?.projectId !== p.id) draft = { projectId: p.id, schema };
  const editor = h("textarea", { id: "schema-editor", rows: "14", spellcheck: "false", "aria-label": "Label schema (JSON)" }) as HTMLTextAreaElement;
  editor.value = draft.schema;
  editor.addEventListener("input", () => {
    if (draft) draft.schema = editor.value;
  });
  const save = async () => {
    try {
      await ipc.editSchema(p.id, editor.value);
      draft = null;
      refresh("The schema is saved and applies at once.");
    } catch (e) {
      refresh(errorMessage(e), false);
    }
  };
  const archive = async () => {
    try {
      await ipc.setArchived(p.id, !p.archived);
      refresh(p.archived ? "Restored: annotators see it again." : "Archived: annotators no longer see it; answers made offline still sync in.");
    } catch (e) {
      refresh(errorMessage(e), false);
    }
  };
  const confirmName = h("input", { id: "delete-confirm", placeholder: p.name, "aria-label": "Type the project's name to delete it" }) as HTMLInputElement;
  const exported = h("span", { class: "muted", id: "delete-export" });
  const remove = async () => {
    if (confirmName.value.trim() !== p.name) {
      exported.textContent = " Type the project's name exactly to delete it.";
      return;
    }
    try {
      gone(await ipc.deleteProject(p.id));
    } catch (e) {
      refresh(errorMessage(e), false);
    }
  };
  return h(
    "section",
    { id: "settings", "aria-label": "Settings" },
    h("h3", {}, "Label schema"),
    h(
      "p",
      { class: "muted small" },
      "Labels, overlap, instructions, gold and suspension settings. Adding labels or changing overlap applies at once; removing a label that answers use, or changing the kind, is refused with the reason.",
    ),
    editor,
    h("p", {}, h("button", { id: "schema-save", onclick: () => void save() }, "Save schema"), " ", h("button", { class: "link", onclick: () => { draft = null; refresh(""); } }, "Discard changes")),
    mlBackendsSection(p, refresh),
    h("h3", {}, p.archived ? "Archived" : "Archive"),
    h(
      "p",
      {},
      h("button", { id: "archive", class: "secondary", onclick: () => void archive() }, p.archived ? "Restore the project" : "Archive the project"),
      h("span", { class: "muted" }, p.archived ? " — it is out of annotators' lists and queue." : " — out of annotators' lists and queue, kept whole; restore it any time."),
    ),
    h("h3", {}, "Delete"),
    h(
      "p",
      {},
      "Deleting removes every task, answer and lease for good. Export first: ",
      h(
        "button",
        {
          id: "delete-export-go",
          class: "secondary",
          onclick: () =>
            void exportFirst()
              .then((path) => (exported.textContent = ` Exported to ${path}.`))
              .catch((e) => (exported.textContent = ` ${errorMessage(e)}`)),
        },
        "Export JSONL",
      ),
      exported,
    ),
    h("p", { class: "inline-form" }, confirmName, " ", h("button", { id: "delete-go", class: "danger", onclick: () => void remove() }, "Delete for good")),
  );
}
