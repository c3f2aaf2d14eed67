// The answer being built, and what each editing key does to it — pure, for every task kind,
// so labeling and review share it and it is unit-tested without the app around it.
import type { SchemaKind, TaskView } from "./bindings";
import { type Box, centreBox, formatBox, nudge, parseBox } from "./boxes";
import type { Action } from "./keys";
import { pick } from "./keys";
import { addSpan, removeSpans, tokenize } from "./spans";

export interface Draft {
  /** Chosen labels, the typed text, spans or boxes: what the answer will hold. */
  selection: string[];
  /** Spans: the word cursor (token indices). */
  cursor: { anchor: number; head: number };
  /** Boxes: the selected box (index into `selection`, -1 for none) and the label for new ones. */
  box: { selected: number; label: number };
}

/** A fresh draft holding `answer` (an earlier answer being revised), the last box selected. */
export function draftOf(answer: string[] | null): Draft {
  const selection = answer ? [...answer] : [];
  return { selection, cursor: { anchor: 0, head: 0 }, box: { selected: selection.length - 1, label: 0 } };
}

/** Whether an answer of this kind may hold nothing (no entity, no object). */
export function emptyAnswerAllowed(kind: SchemaKind): boolean {
  return kind === "spans" || kind === "boxes";
}

/** What an editing key does to the draft; null when `action` is not an edit of this kind. */
export function editAnswer(t: TaskView, d: Draft, action: Action): Draft | null {
  if (t.kind === "spans") return editSpans(t, d, action);
  if (t.kind === "boxes") return editBoxes(t, d, action);
  if (action.kind !== "pick") return null;
  const label = t.labels[action.index];
  return label === undefined ? d : { ...d, selection: pick(d.selection, label, t.multiple) };
}

function editSpans(t: TaskView, d: Draft, action: Action): Draft | null {
  const tokens = tokenize(t.text ?? "");
  if (action.kind === "move") {
    const head = Math.max(0, Math.min(tokens.length - 1, d.cursor.head + action.by));
    return { ...d, cursor: { anchor: action.extend ? d.cursor.anchor : head, head } };
  }
  if (action.kind !== "pick" && action.kind !== "unmark") return null;
  const [lo, hi] = [Math.min(d.cursor.anchor, d.cursor.head), Math.max(d.cursor.anchor, d.cursor.head)];
  const label = action.kind === "pick" ? t.labels[action.index] : undefined;
  if (!tokens[lo] || !tokens[hi] || (action.kind === "pick" && label === undefined)) return d;
  const [start, end] = [tokens[lo].start, tokens[hi].end];
  const selection = label ? addSpan(d.selection, start, end, label) : removeSpans(d.selection, start, end);
  return { ...d, selection };
}

function editBoxes(t: TaskView, d: Draft, action: Action): Draft | null {
  const n = d.selection.length;
  const selected = d.box.selected >= 0 && d.box.selected < n ? d.box.selected : -1;
  const replace = (f: (b: Box) => Box): string[] => {
    const b = parseBox(d.selection[selected] ?? "");
    return b ? d.selection.map((s, i) => (i === selected ? formatBox(f(b)) : s)) : d.selection;
  };
  switch (action.kind) {
    case "pick": {
      const label = t.labels[action.index];
      if (label === undefined) return d;
      const selection = selected >= 0 ? replace((b) => ({ ...b, label })) : d.selection;
      return { ...d, selection, box: { ...d.box, label: action.index } };
    }
    case "newbox": {
      const selection = [...d.selection, formatBox(centreBox(t.labels[d.box.label] ?? t.labels[0]))];
      return { ...d, selection, box: { ...d.box, selected: selection.length - 1 } };
    }
    case "nudge":
      return selected >= 0 ? { ...d, selection: replace((b) => nudge(b, action.dx, action.dy, action.resize)) } : d;
    case "nextbox":
      return { ...d, box: { ...d.box, selected: n ? (selected + 1) % n : -1 } };
    case "unmark": {
      if (selected < 0) return d;
      const selection = d.selection.filter((_, i) => i !== selected);
      return { ...d, selection, box: { ...d.box, selected: Math.min(selected, selection.length - 1) } };
    }
    default:
      return null;
  }
}
