// Span (named-entity) answers: the task text cut into selectable tokens, and spans kept as
// the strings the server stores, `start:end:label`, with offsets in Unicode code points.

export interface Token {
  text: string;
  /** Offsets in code points, end exclusive. */
  start: number;
  end: number;
}

export interface SpanValue {
  start: number;
  end: number;
  label: string;
}

/** Words (runs of letters, digits, apostrophes inside words) and single other marks; spaces are not tokens. */
export function tokenize(text: string): Token[] {
  const chars = Array.from(text);
  const tokens: Token[] = [];
  const word = /[\p{L}\p{N}_]/u;
  let i = 0;
  while (i < chars.length) {
    if (/\s/u.test(chars[i])) {
      i += 1;
      continue;
    }
    let j = i + 1;
    if (word.test(chars[i])) {
      while (j < chars.length && (word.test(chars[j]) || (chars[j] === "'" && j + 1 < chars.length && word.test(chars[j + 1])))) j += 1;
    }
    tokens.push({ text: chars.slice(i, j).join(""), start: i, end: j });
    i = j;
  }
  return tokens;
}

export function parseSpan(s: string): SpanValue | null {
  const m = /^(\d+):(\d+):(.+)$/s.exec(s);
  if (!m) return null;
  const [start, end] = [Number(m[1]), Number(m[2])];
  return start < end ? { start, end, label: m[3] } : null;
}

const key = (s: SpanValue) => `${s.start}:${s.end}:${s.label}`;

function sorted(spans: SpanValue[]): string[] {
  return spans
    .sort((a, b) => a.start - b.start || a.end - b.end || a.label.localeCompare(b.label))
    .map(key);
}

/** `spans` with [start, end) marked `label`: spans overlapping it give way. */
export function addSpan(spans: readonly string[], start: number, end: number, label: string): string[] {
  const kept = spans.map(parseSpan).filter((s): s is SpanValue => s !== null && (s.end <= start || s.start >= end));
  return sorted([...kept, { start, end, label }]);
}

/** `spans` without those overlapping [start, end). */
export function removeSpans(spans: readonly string[], start: number, end: number): string[] {
  return sorted(spans.map(parseSpan).filter((s): s is SpanValue => s !== null && (s.end <= start || s.start >= end)));
}

/** The text a span covers. */
export function spanText(text: string, s: SpanValue): string {
  return Array.from(text).slice(s.start, s.end).join("");
}
