// The task card for every task kind, as a pure function of the task and the screen state,
// so each kind can be unit-tested without the app around it.
import type { ReviewView, TaskView } from "./bindings";
import { h } from "./dom";
import { formatScore, keyHelp, type Mode, SKIP_REASONS } from "./keys";
import { type Box, parseBox } from "./boxes";
import type { Draft } from "./edits";
import { parseSpan, type SpanValue, tokenize } from "./spans";

export interface ScreenState extends Draft {
  /** Revising an earlier answer. */
  revising: boolean;
  /** The annotator rejected the machine's prediction. */
  rejected: boolean;
  helpOpen: boolean;
  notice: string;
  mode: Mode;
  /** The answer is flagged unsure. */
  unsure: boolean;
  /** The skip key asked why. */
  skipping: boolean;
}

export interface Handlers {
  pick: (index: number) => void;
  text: (value: string) => void;
  /** Spans: the mouse selected tokens `from` to `to`. */
  select: (from: number, to: number) => void;
  /** Boxes: the mouse dragged from (x0, y0) to (x1, y1), relative to the image. */
  draw: (x0: number, y0: number, x1: number, y1: number) => void;
}

export function renderTask(t: TaskView, s: ScreenState, on: Handlers): HTMLElement {
  const predicted = s.rejected ? [] : (t.prediction?.labels ?? []);
  return h(
    "section",
    { class: `card task kind-${t.kind}`, id: "task", "data-task-id": String(t.task_id), "data-kind": t.kind },
    s.revising ? h("p", { class: "revising", id: "revising" }, "Revising your earlier answer — Enter saves a new revision") : null,
    s.unsure ? h("p", { class: "unsure", id: "unsure" }, "Unsure — this answer will go to review (U to undo)") : null,
    t.instructions ? h("p", { class: "instructions" }, t.instructions) : null,
    ...body(t, s, predicted, on),
    prediction(t, s),
    hints(t, s.mode),
    s.skipping ? skipQuestion() : null,
    s.notice ? h("p", { class: "error", role: "alert", id: "notice" }, s.notice) : null,
    s.helpOpen ? helpPanel(t, s.mode) : null,
  );
}

function source(t: TaskView): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (t.text) out.push(h("p", { id: "task-text", class: t.kind === "pairwise" ? "task-prompt" : "task-text" }, t.text));
  if (t.image) out.push(h("img", { class: "task-image", src: t.image, alt: "Task image" }));
  return out;
}

function body(t: TaskView, s: ScreenState, predicted: string[], on: Handlers): HTMLElement[] {
  switch (t.kind) {
    case "pairwise":
      return [...source(t), pair(t, s, predicted, on)];
    case "text":
      return [...source(t), textAnswer(s, on)];
    case "spans":
      return spanText(t, s, predicted, on);
    case "boxes":
      return boxStage(t, s, predicted, on);
    default:
      return [...source(t), choices(t, s, predicted, on)];
  }
}

function choiceClass(label: string, s: ScreenState, predicted: string[]): string {
  return `${s.selection.includes(label) ? " chosen" : ""}${predicted.includes(label) ? " suggested" : ""}`;
}

function choices(t: TaskView, s: ScreenState, predicted: string[], on: Handlers): HTMLElement {
  const rating = t.kind === "rating";
  const group = h("div", {
    class: rating ? "labels scale" : "labels",
    role: rating ? "radiogroup" : "group",
    "aria-label": rating ? "Rating scale, lowest first" : "Labels",
  });
  t.labels.forEach((label, i) => {
    const chosen = s.selection.includes(label);
    group.append(
      h(
        "button",
        {
          class: `label-option${choiceClass(label, s, predicted)}`,
          "data-label": label,
          role: rating ? "radio" : false,
          "aria-checked": rating ? String(chosen) : false,
          "aria-pressed": rating ? false : String(chosen),
          tabindex: "-1",
          onclick: () => on.pick(i),
        },
        i < 9 ? h("kbd", {}, String(i + 1)) : null,
        ` ${label}`,
      ),
    );
  });
  return group;
}

function pair(t: TaskView, s: ScreenState, predicted: string[], on: Handlers): HTMLElement {
  const items = t.pair ? [t.pair.a, t.pair.b] : ["", ""];
  const side = (i: number, key: string) => {
    const label = t.labels[i];
    return h(
      "button",
      {
        class: `pair-item${choiceClass(label, s, predicted)}`,
        id: i === 0 ? "pair-a" : "pair-b",
        "data-label": label,
        "aria-pressed": String(s.selection.includes(label)),
        tabindex: "-1",
        onclick: () => on.pick(i),
      },
      h("span", { class: "pair-head" }, h("kbd", {}, key), ` ${label}`),
      h("span", { class: "pair-text" }, items[i]),
    );
  };
  const tie = t.labels[2];
  return h(
    "div",
    { class: "pair-wrap", role: "group", "aria-label": "Which is better?" },
    h("div", { class: "pair" }, side(0, "1 ←"), side(1, "2 →")),
    tie !== undefined
      ? h(
          "button",
          {
            class: `label-option pair-tie${choiceClass(tie, s, predicted)}`,
            id: "pair-tie",
            "data-label": tie,
            "aria-pressed": String(s.selection.includes(tie)),
            tabindex: "-1",
            onclick: () => on.pick(2),
          },
          h("kbd", {}, "3 ="),
          ` ${tie}`,
        )
      : null,
  );
}

/** The task text as word tokens, marked spans coloured and tagged, the cursor outlined. */
function spanText(t: TaskView, s: ScreenState, predicted: string[], on: Handlers): HTMLElement[] {
  const text = t.text ?? "";
  const chars = Array.from(text);
  const tokens = tokenize(text);
  const spans = (list: string[]) => list.map(parseSpan).filter((x): x is SpanValue => x !== null);
  const mine = spans(s.selection);
  const suggested = spans(predicted);
  const [lo, hi] = [Math.min(s.cursor.anchor, s.cursor.head), Math.max(s.cursor.anchor, s.cursor.head)];
  const over = (list: SpanValue[], a: number, b: number) => list.find((x) => x.start < b && a < x.end);
  const p = h("p", { id: "task-text", class: "task-text span-text" });
  let at = 0;
  tokens.forEach((tok, i) => {
    if (tok.start > at) p.append(chars.slice(at, tok.start).join(""));
    const span = over(mine, tok.start, tok.end);
    const hint = span ? undefined : over(suggested, tok.start, tok.end);
    const entity = span ? ` ent ent-${t.labels.indexOf(span.label) % 6}` : "";
    p.append(
      h(
        "span",
        {
          class: `tok${entity}${hint ? " suggested" : ""}${i >= lo && i <= hi ? " cursor" : ""}`,
          "data-i": String(i),
          "data-label": span?.label ?? false,
        },
        tok.text,
      ),
    );
    // The tag follows the span's last token.
    const next = tokens[i + 1];
    if (span && !(next && next.start < span.end)) p.append(h("sup", { class: "ent-tag" }, span.label));
    at = tok.end;
  });
  if (at < chars.length) p.append(chars.slice(at).join(""));
  p.addEventListener("mouseup", () => {
    const sel = window.getSelection();
    const index = (n: Node | null | undefined) => {
      const el = (n instanceof Element ? n : n?.parentElement)?.closest(".tok");
      return el ? Number(el.getAttribute("data-i")) : null;
    };
    const [a, b] = [index(sel?.anchorNode), index(sel?.focusNode)];
    if (a !== null && b !== null) on.select(a, b);
  });
  const legend = h("div", { class: "labels", role: "group", "aria-label": "Entity types" });
  t.labels.forEach((label, i) =>
    legend.append(
      h(
        "button",
        { class: `label-option ent-key ent-${i % 6}`, "data-label": label, tabindex: "-1", onclick: () => on.pick(i) },
        i < 9 ? h("kbd", {}, String(i + 1)) : null,
        ` ${label}`,
      ),
    ),
  );
  const list = h("ul", { class: "spans-list", id: "spans-list", "aria-label": "Marked spans" });
  for (const x of mine) list.append(h("li", {}, h("strong", {}, chars.slice(x.start, x.end).join("")), ` — ${x.label}`));
  if (!mine.length) list.append(h("li", { class: "muted" }, "No spans marked: Enter saves that as the answer."));
  return [p, legend, list];
}

/** The image with the boxes drawn over it (percent-positioned, so no pixel sizes needed). */
function boxStage(t: TaskView, s: ScreenState, predicted: string[], on: Handlers): HTMLElement[] {
  const stage = h("div", { class: "box-stage", id: "box-stage" });
  if (t.image) stage.append(h("img", { class: "task-image", src: t.image, alt: t.text ?? "Task image", draggable: "false" }));
  const draw = (b: Box, cls: string, tag: string) => {
    const el = h("div", { class: `bbox ${cls}`, "data-label": b.label }, h("span", { class: "bbox-tag" }, tag));
    // Through the CSSOM: the app's content security policy refuses style attributes.
    Object.assign(el.style, { left: `${b.x * 100}%`, top: `${b.y * 100}%`, width: `${b.w * 100}%`, height: `${b.h * 100}%` });
    return el;
  };
  predicted.map(parseBox).forEach((b) => b && stage.append(draw(b, "suggested", `${b.label}?`)));
  s.selection.forEach((raw, i) => {
    const b = parseBox(raw);
    if (b) stage.append(draw(b, `ent-${Math.max(0, t.labels.indexOf(b.label)) % 6}${i === s.box.selected ? " selected" : ""}`, b.label));
  });
  let from: [number, number] | null = null;
  const at = (e: MouseEvent): [number, number] => {
    const r = stage.getBoundingClientRect();
    return [(e.clientX - r.left) / Math.max(1, r.width), (e.clientY - r.top) / Math.max(1, r.height)];
  };
  stage.addEventListener("mousedown", (e) => {
    e.preventDefault();
    from = at(e as MouseEvent);
  });
  stage.addEventListener("mouseup", (e) => {
    if (!from) return;
    const to = at(e as MouseEvent);
    on.draw(from[0], from[1], to[0], to[1]);
    from = null;
  });
  const legend = h("div", { class: "labels", role: "radiogroup", "aria-label": "Label for new boxes" });
  t.labels.forEach((label, i) =>
    legend.append(
      h(
        "button",
        {
          class: `label-option ent-key ent-${i % 6}${i === s.box.label ? " chosen" : ""}`,
          role: "radio",
          "aria-checked": String(i === s.box.label),
          "data-label": label,
          tabindex: "-1",
          onclick: () => on.pick(i),
        },
        i < 9 ? h("kbd", {}, String(i + 1)) : null,
        ` ${label}`,
      ),
    ),
  );
  const list = h("p", { class: "muted", id: "boxes-count" }, `${s.selection.length} box${s.selection.length === 1 ? "" : "es"} drawn`);
  return [stage, legend, list];
}

function textAnswer(s: ScreenState, on: Handlers): HTMLElement {
  const box = h("textarea", {
    id: "answer-text",
    class: "answer-text",
    rows: "4",
    "aria-label": "Your answer",
    placeholder: "Type the answer — Enter saves, Shift+Enter adds a line, Esc leaves the box",
    oninput: (e: Event) => on.text((e.target as HTMLTextAreaElement).value),
  }) as HTMLTextAreaElement;
  box.value = s.selection[0] ?? "";
  return box;
}

function prediction(t: TaskView, s: ScreenState): HTMLElement | null {
  const p = t.prediction;
  if (!p) return null;
  return h(
    "aside",
    { class: `prediction${s.rejected ? " rejected" : ""}`, id: "prediction", "aria-label": "Machine prediction" },
    h("span", { class: "badge" }, s.rejected ? "Machine prediction — rejected" : "Machine prediction"),
    h("strong", { id: "prediction-labels" }, predictionText(t, p.labels)),
    h("span", { class: "score" }, formatScore(p.score)),
    h("span", { class: "muted" }, p.model_version ? `model ${p.model_version}` : ""),
    h("span", { class: "review-keys muted" }, h("kbd", {}, "A"), " accept ", h("kbd", {}, "C"), " correct ", h("kbd", {}, "R"), " reject"),
  );
}

/** A prediction as words: spans as their text and label, boxes by label. */
function predictionText(t: TaskView, labels: string[]): string {
  if (t.kind === "spans") {
    const chars = Array.from(t.text ?? "");
    return labels
      .map(parseSpan)
      .filter((x): x is SpanValue => x !== null)
      .map((x) => `${chars.slice(x.start, x.end).join("")} — ${x.label}`)
      .join(", ");
  }
  if (t.kind === "boxes") {
    const boxes = labels.map(parseBox).filter((b): b is Box => b !== null);
    return `${boxes.length} box${boxes.length === 1 ? "" : "es"}: ${boxes.map((b) => b.label).join(", ")} (dashed)`;
  }
  return labels.join(", ");
}

function hints(t: TaskView, mode: Mode): HTMLElement {
  const first =
    t.kind === "pairwise"
      ? "1/2 or ←/→"
      : t.kind === "text"
        ? "E"
        : t.kind === "spans"
          ? "← → then 1–9"
          : t.kind === "boxes"
            ? "B or drag, arrows"
          : `1–${Math.min(t.labels.length, 9)}`;
  const what = t.kind === "pairwise" ? " choose  " : t.kind === "text" ? " type  " : t.kind === "spans" || t.kind === "boxes" ? " mark  " : " pick  ";
  return h(
    "p",
    { class: "hints" },
    h("kbd", {}, first),
    what,
    h("kbd", {}, "Enter"),
    mode === "review" ? " verdict  " : " submit  ",
    h("kbd", {}, mode === "review" ? "A" : "S"),
    mode === "review" ? " take consensus  " : " skip  ",
    h("kbd", {}, mode === "review" ? "V" : "Backspace"),
    mode === "review" ? " back to labeling  " : " previous  ",
    h("kbd", {}, "?"),
    " all keys",
  );
}

function skipQuestion(): HTMLElement {
  const list = h("p", { class: "skip-question", id: "skip-question", role: "dialog", "aria-label": "Why skip this task?" }, h("strong", {}, "Skip because: "));
  SKIP_REASONS.forEach((reason, i) => list.append(h("kbd", {}, String(i + 1)), ` ${reason}  `));
  list.append(h("kbd", {}, "S"), " no reason  ", h("kbd", {}, "Esc"), " keep the task");
  return list;
}

function helpPanel(t: TaskView, mode: Mode): HTMLElement {
  const list = h("dl", { class: "help", id: "help", "aria-label": "Keyboard shortcuts" });
  for (const [key, what] of keyHelp(t.kind, t.labels.length, mode)) list.append(h("dt", {}, key), h("dd", {}, what));
  return list;
}

/** A review item's evidence: every annotator's answer and the crowd consensus. */
export function renderAnswers(item: ReviewView): HTMLElement {
  const shown = (labels: string[]) => (labels.length ? labels.join(", ") : "(skipped)");
  const list = h("ul", { class: "answers-list" });
  for (const a of item.answers) {
    list.append(h("li", {}, h("span", { class: "annotator" }, a.annotator), h("span", { class: "answer" }, shown(a.labels))));
  }
  const c = item.consensus;
  return h(
    "aside",
    { class: "card review-evidence", id: "answers", "aria-label": "Answers and consensus" },
    h("h3", {}, `${item.answers.length} answers`),
    list,
    c
      ? h(
          "p",
          { class: "consensus", id: "consensus" },
          h("span", { class: "badge" }, "Consensus"),
          ` ${shown(c.labels)} `,
          h("span", { class: "score" }, formatScore(c.confidence)),
        )
      : h("p", { class: "muted" }, "No consensus yet"),
  );
}
