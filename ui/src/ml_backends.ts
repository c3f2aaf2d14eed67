// Models in the app: the Settings tab's ML backends (connect a model service in Label
// Studio's ML backend protocol, see how each is doing, ask them to train, disconnect one —
// the list loads on its own, so a slow server never holds up the rest of the tab), and the
// built-in model's record on the Overview.
import type { MlBackend, ModelRun, ProjectSummary } from "./bindings";
import { h } from "./dom";
import { errorMessage, ipc } from "./ipc";

/** One backend's state in words: health, version, what it predicted, what failed. */
export function backendLine(b: MlBackend): string {
  const health = b.healthy === true ? "healthy" : b.healthy === false ? "not answering" : "not checked yet";
  const version = b.model_version ? `, model ${b.model_version}` : "";
  const failed = b.failed > 0 ? `, ${b.failed.toLocaleString()} given up` : "";
  return `${health}${version}: ${b.predictions.toLocaleString()} tasks predicted, ${b.queue.toLocaleString()} waiting${failed}`;
}

export function mlBackendsSection(p: ProjectSummary, refresh: (notice: string, ok?: boolean) => void): HTMLElement {
  const list = h("div", { id: "ml-backends", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading…"));
  const url = h("input", { id: "ml-url", placeholder: "http://127.0.0.1:9090", "aria-label": "ML backend URL" }) as HTMLInputElement;
  const name = h("input", { id: "ml-name", placeholder: "name (optional)", "aria-label": "ML backend name" }) as HTMLInputElement;
  const act = async (what: () => Promise<string | void>, done: string) => {
    try {
      const said = await what();
      refresh(typeof said === "string" ? said : done);
    } catch (e) {
      refresh(errorMessage(e), false);
    }
  };
  void ipc
    .mlBackends(p.id)
    .then((backends) => {
      list.replaceChildren(
        backends.length === 0
          ? h("p", { class: "muted" }, "No backend connected.")
          : h(
              "ul",
              { class: "plain" },
              ...backends.map((b) =>
                h(
                  "li",
                  { class: "ml-backend", "data-backend": String(b.id) },
                  h("strong", {}, b.name),
                  " ",
                  h("span", { class: "muted" }, b.url),
                  h("br", {}),
                  backendLine(b),
                  b.last_error ? h("div", { class: "error small" }, `Last error: ${b.last_error}`) : "",
                  " ",
                  h(
                    "button",
                    { class: "link", onclick: () => void act(() => ipc.disconnectMlBackend(p.id, b.id), `Disconnected ${b.name}.`) },
                    "Disconnect",
                  ),
                ),
              ),
            ),
      );
    })
    .catch((e) => list.replaceChildren(h("p", { class: "error" }, errorMessage(e))));
  return h(
    "div",
    {},
    h("h3", {}, "ML backends"),
    h(
      "p",
      { class: "muted small" },
      "A model service in Label Studio's ML backend protocol predicts every task (shown to annotators beside it) and hears every answer. A backend that is down or slow holds up nothing.",
    ),
    list,
    h(
      "p",
      { class: "inline-form" },
      url,
      " ",
      name,
      " ",
      h("button", { id: "ml-connect", onclick: () => void act(() => ipc.connectMlBackend(p.id, url.value, name.value), "Connected.") }, "Connect"),
      " ",
      h("button", { id: "ml-train", class: "secondary", onclick: () => void act(() => ipc.trainMlBackends(p.id), "") }, "Train now"),
    ),
  );
}

/**
 * The built-in model's record: its latest run, and how often each run's predictions were
 * right on the tasks completed after it (which it had not trained on). Empty without runs.
 */
export function modelRunsLine(runs: ModelRun[]): string {
  const last = runs[runs.length - 1];
  if (!last) return "";
  const scored = runs.filter((r) => r.held_out > 0);
  const record = scored.map((r) => `v${r.version - 1} ${Math.round((100 * r.correct) / r.held_out)}% of ${r.held_out}`).join(", ");
  return (
    `Built-in model v${last.version}, trained on ${last.trained_on.toLocaleString()} consensus labels in ${last.seconds.toFixed(1)} s.` +
    (record ? ` Right on tasks it had not trained on: ${record}.` : " Not scored yet: no task completed since its first run.")
  );
}
