// The Settings tab's ML backends: connect a model service (Label Studio's ML backend
// protocol), see how each is doing, ask them to train, disconnect one. The list loads on its
// own, so a slow server never holds up the rest of the tab.
import type { MlBackend, ProjectSummary } from "./bindings";
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
