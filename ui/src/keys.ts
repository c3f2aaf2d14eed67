// Keyboard map of the labeling screen, kept pure so it can be unit-tested.

export type Action =
  | { kind: "pick"; index: number }
  | { kind: "submit" }
  | { kind: "skip" }
  | { kind: "back" }
  | { kind: "help" };

/** What a key does on the labeling screen with `labelCount` choices; null if nothing. */
export function actionForKey(key: string, labelCount: number): Action | null {
  if (/^[1-9]$/.test(key)) {
    const index = Number(key) - 1;
    return index < labelCount ? { kind: "pick", index } : null;
  }
  switch (key) {
    case "Enter":
      return { kind: "submit" };
    case "s":
    case "S":
      return { kind: "skip" };
    case "Backspace":
      return { kind: "back" };
    case "?":
      return { kind: "help" };
    default:
      return null;
  }
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
