// Keyboard map of the labeling screen, kept pure so it can be unit-tested.
import type { SchemaKind } from "./bindings";
import { STEP } from "./boxes";

export type Action =
  | { kind: "pick"; index: number }
  | { kind: "submit" }
  | { kind: "skip" }
  | { kind: "back" }
  | { kind: "help" }
  /** Take the machine's prediction as the answer and move on. */
  | { kind: "accept" }
  /** Start from the machine's prediction and edit it before submitting. */
  | { kind: "correct" }
  /** The prediction is wrong: drop it from the selection and answer by hand. */
  | { kind: "reject" }
  /** Put the cursor in the free-text box. */
  | { kind: "edit" }
  /** Leave the free-text box so the other keys work again. */
  | { kind: "leave" }
  /** Back to the list of projects. */
  | { kind: "projects" }
  /** Switch between labeling and the review queue. */
  | { kind: "review" }
  /** Spans: move the word cursor (`extend`: stretch the selection instead). */
  | { kind: "move"; by: number; extend: boolean }
  /** Spans: unmark what the selection covers; boxes: delete the selected box. */
  | { kind: "unmark" }
  /** Boxes: move the selected box (`resize`: grow or shrink it instead). */
  | { kind: "nudge"; dx: number; dy: number; resize: boolean }
  /** Boxes: a new box in the middle of the image, with the current label. */
  | { kind: "newbox" }
  /** Boxes: select the next box. */
  | { kind: "nextbox" }
  /** Flag (or unflag) the answer as unsure: the task then goes to review. */
  | { kind: "unsure" }
  /** Skip with one of the [`SKIP_REASONS`]. */
  | { kind: "skipWith"; reason: string }
  /** Close the skip-reason question without skipping. */
  | { kind: "cancel" };

/** Why a task may be skipped; the skip key asks, a digit answers. */
export const SKIP_REASONS = ["unclear", "broken or missing data", "offensive", "not my language", "other"];

/** Labeling one's own tasks, or giving verdicts on the review queue. */
export type Mode = "label" | "review";

/** What the screen holds when a key arrives. */
export interface KeyContext {
  kind: SchemaKind;
  labelCount: number;
  hasPrediction: boolean;
  /** The key went to the free-text box. */
  typing: boolean;
  shift: boolean;
  mode: Mode;
  /** The skip key asked why: a digit answers, S skips without a reason, Esc cancels. */
  skipping: boolean;
}

/** What a key does on the labeling screen; null if nothing (the key then does its usual). */
export function actionForKey(key: string, ctx: KeyContext): Action | null {
  if (ctx.skipping) {
    const i = Number(key) - 1;
    if (/^[1-9]$/.test(key) && i < SKIP_REASONS.length) return { kind: "skipWith", reason: SKIP_REASONS[i] };
    if (key === "s" || key === "S") return { kind: "skip" };
    if (key === "Escape") return { kind: "cancel" };
    return null;
  }
  if (ctx.typing) {
    if (key === "Enter" && !ctx.shift) return { kind: "submit" };
    if (key === "Escape") return { kind: "leave" };
    return null;
  }
  if (/^[1-9]$/.test(key) && ctx.kind !== "text") {
    const index = Number(key) - 1;
    return index < ctx.labelCount ? { kind: "pick", index } : null;
  }
  if (ctx.kind === "spans") {
    if (key === "ArrowLeft" || key === "ArrowRight") return { kind: "move", by: key === "ArrowLeft" ? -1 : 1, extend: ctx.shift };
    if (key === "Delete" || key === "x" || key === "X") return { kind: "unmark" };
  }
  if (ctx.kind === "boxes") {
    const arrows: Record<string, [number, number]> = {
      ArrowLeft: [-STEP, 0],
      ArrowRight: [STEP, 0],
      ArrowUp: [0, -STEP],
      ArrowDown: [0, STEP],
    };
    const d = arrows[key];
    if (d) return { kind: "nudge", dx: d[0], dy: d[1], resize: ctx.shift };
    if (key === "b" || key === "B") return { kind: "newbox" };
    if (key === "Tab") return { kind: "nextbox" };
    if (key === "Delete" || key === "x" || key === "X") return { kind: "unmark" };
  }
  if (ctx.kind === "pairwise") {
    if (key === "ArrowLeft") return { kind: "pick", index: 0 };
    if (key === "ArrowRight") return { kind: "pick", index: 1 };
    if ((key === "=" || key === "ArrowDown") && ctx.labelCount > 2) return { kind: "pick", index: 2 };
  }
  switch (key.length === 1 ? key.toLowerCase() : key) {
    case "Enter":
      return { kind: "submit" };
    case "s":
      return { kind: "skip" };
    case "Backspace":
      return ctx.mode === "label" ? { kind: "back" } : null;
    case "?":
      return { kind: "help" };
    case "a":
      // Reviewing, A takes the crowd's consensus as the verdict.
      return ctx.hasPrediction || ctx.mode === "review" ? { kind: "accept" } : null;
    case "c":
      return ctx.hasPrediction && ctx.mode === "label" ? { kind: "correct" } : null;
    case "r":
      return ctx.hasPrediction && ctx.mode === "label" ? { kind: "reject" } : null;
    case "v":
      return { kind: "review" };
    case "u":
      return ctx.mode === "label" ? { kind: "unsure" } : null;
    case "e":
      return ctx.kind === "text" ? { kind: "edit" } : null;
    case "p":
      return { kind: "projects" };
    default:
      return null;
  }
}

/** Every key of a task kind with what it does, for the `?` panel (and the docs). */
export function keyHelp(kind: SchemaKind, labelCount: number, mode: Mode = "label"): [string, string][] {
  const keys: [string, string][] = [];
  if (kind === "pairwise") {
    keys.push(["1 or ←", "A is better"], ["2 or →", "B is better"]);
    if (labelCount > 2) keys.push(["3, = or ↓", "both are equally good"]);
  } else if (kind === "text") {
    keys.push(["E", "type the answer (Shift+Enter for a new line)"], ["Esc", "leave the text box"]);
  } else if (kind === "spans") {
    keys.push(
      ["← →", "move along the words (or select with the mouse)"],
      ["Shift+← →", "stretch the selection"],
      [`1–${Math.min(labelCount, 9)}`, "mark the selection as that entity"],
      ["X", "unmark the selection"],
    );
  } else if (kind === "boxes") {
    keys.push(
      [`1–${Math.min(labelCount, 9)}`, "the label of new boxes, and of the selected one"],
      ["B", "a new box in the middle (or drag one with the mouse)"],
      ["← → ↑ ↓", "move the selected box"],
      ["Shift+← → ↑ ↓", "resize it"],
      ["Tab", "select the next box"],
      ["X", "delete the selected box"],
    );
  } else if (kind === "rating") {
    keys.push([`1–${Math.min(labelCount, 9)}`, "rate on the scale, lowest first"]);
  } else {
    keys.push([`1–${Math.min(labelCount, 9)}`, "pick a label (toggles in multiple choice)"]);
  }
  if (mode === "review") {
    keys.push(
      ["Enter", "record your verdict: the task's final label"],
      ["A", "take the crowd's consensus as the verdict"],
      ["S", "leave this task for later"],
      ["V", "back to labeling"],
    );
  } else {
    keys.push(
      ["Enter", "save the answer and go to the next task"],
      ["A", "accept the machine's prediction as the answer"],
      ["C", "correct the prediction: start from it and edit"],
      ["R", "reject the prediction and answer by hand"],
      ["U", "flag the answer as unsure (it goes to review)"],
      ["S", "skip this task (then a digit says why)"],
      ["Backspace", "go back and revise the previous answer"],
      ["V", "review queue (project reviewers)"],
    );
  }
  keys.push(["P", "back to the project list"], ["T", "light or dark theme"], ["?", "show or hide this help"]);
  return keys;
}

/** The selection after picking `label`: replace for single choice, toggle for multiple. */
export function pick(selection: readonly string[], label: string, multiple: boolean): string[] {
  if (!multiple) return [label];
  return selection.includes(label) ? selection.filter((l) => l !== label) : [...selection, label];
}

/** A prediction score as a percentage for display, e.g. 0.873 → "87%". */
export function formatScore(score: number | null): string {
  return score === null ? "" : `${Math.round(score * 100)}%`;
}

/** The `q` quantile (0–1) of `samples` by the nearest-rank method; null when empty. */
export function quantile(samples: readonly number[], q: number): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}
