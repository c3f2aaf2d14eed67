// The project's Quality tab: each annotator's gold record, agreement with the consensus and
// confusion matrix, suspension (lifted here), stuck tasks and the re-fit button.
import type { AnnotatorSkill, ProjectDashboard } from "./bindings";
import { h } from "./dom";
import { errorMessage, ipc } from "./ipc";
import { formatScore } from "./keys";

/** `refresh` repaints the project screen with what the server has now. */
export function qualityScreen(d: ProjectDashboard, refresh: (notice: string, ok?: boolean) => void): HTMLElement {
  const p = d.summary;
  const act = async (action: () => Promise<string>) => {
    try {
      refresh(await action());
    } catch (e) {
      refresh(errorMessage(e), false);
    }
  };
  const refit = h(
    "button",
    { id: "refit", onclick: () => void act(() => ipc.refit(p.id)) },
    "Re-fit the consensus now",
  );
  return h(
    "section",
    { id: "quality", "aria-label": "Quality" },
    p.stuck > 0
      ? h("p", { class: "error", id: "stuck-line" }, `${p.stuck} task${p.stuck === 1 ? " is" : "s are"} stuck: ${p.stuck_because ?? "no one can take them"}`)
      : null,
    h(
      "p",
      {},
      refit,
      h("span", { class: "muted" }, " — the consensus is re-fitted in the background as answers arrive; this does it at once (after a schema change or a lifted suspension)."),
    ),
    d.annotators.length ? annotatorTable(d, act) : h("p", { class: "muted" }, "No answers yet."),
    ...d.annotators.filter((a) => Object.keys(a.confusion).length).map(confusion),
  );
}

function share(value: number | null): HTMLElement | string {
  if (value === null) return "—";
  return h("span", {}, h("meter", { min: "0", max: "1", value: String(value), "aria-label": formatScore(value) }), ` ${formatScore(value)}`);
}

function annotatorTable(d: ProjectDashboard, act: (action: () => Promise<string>) => Promise<void>): HTMLElement {
  const row = (a: AnnotatorSkill) =>
    h(
      "tr",
      { class: a.suspended ? "suspended" : "", "data-annotator": String(a.annotator_id) },
      h("td", {}, a.annotator, a.suspended ? h("span", { class: "flag" }, " suspended") : null),
      h("td", { class: "num" }, String(a.answers)),
      h("td", { class: "num" }, `${a.gold_correct}/${a.gold_answers}`),
      h("td", {}, share(a.gold_accuracy)),
      h("td", {}, share(a.agreement)),
      h("td", { class: "num" }, a.median_seconds === null ? "—" : a.median_seconds.toFixed(1)),
      h("td", {}, a.flags.join(", ")),
      h(
        "td",
        {},
        a.suspended
          ? h(
              "button",
              {
                class: "small-button",
                "data-unsuspend": String(a.annotator_id),
                onclick: () =>
                  void act(async () => {
                    await ipc.unsuspend(d.summary.id, a.annotator_id);
                    return `${a.annotator}'s suspension is lifted; their gold record starts again.`;
                  }),
              },
              "Lift",
            )
          : null,
      ),
    );
  return h(
    "table",
    { class: "data-table", id: "annotators" },
    h(
      "thead",
      {},
      h("tr", {}, ...["Annotator", "Answers", "Gold", "Accuracy on gold", "Agreement with consensus", "Median s", "Flags", ""].map((c) => h("th", {}, c))),
    ),
    h("tbody", {}, ...d.annotators.map(row)),
  );
}

/** One annotator's answers against the consensus: rows the consensus, columns their label. */
function confusion(a: AnnotatorSkill): HTMLElement {
  const truths = Object.keys(a.confusion).sort();
  const theirs = [...new Set(truths.flatMap((t) => Object.keys(a.confusion[t])))].sort();
  const max = Math.max(1, ...truths.flatMap((t) => Object.values(a.confusion[t])));
  return h(
    "details",
    { class: "confusion", "data-annotator": String(a.annotator_id) },
    h("summary", {}, `${a.annotator}: confusion against the consensus (${a.agreement_answers} answers)`),
    h(
      "table",
      { class: "data-table confusion-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "consensus ↓ / theirs →"), ...theirs.map((l) => h("th", { class: "num" }, l)))),
      h(
        "tbody",
        {},
        ...truths.map((t) =>
          h(
            "tr",
            {},
            h("th", {}, t),
            ...theirs.map((l) => {
              const n = a.confusion[t][l] ?? 0;
              const tone = l === t ? "var(--ok)" : "var(--warn)";
              const style = `background: color-mix(in srgb, ${tone} ${Math.round((n / max) * 45)}%, transparent)`;
              return h("td", { class: "num", style }, String(n));
            }),
          ),
        ),
      ),
    ),
  );
}
