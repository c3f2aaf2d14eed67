// Bounding-box answers: boxes kept as the strings the server stores, `x,y,w,h:label`,
// relative to the image (0–1), with the edits the keyboard and the mouse make.

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
  label: string;
}

export function parseBox(s: string): Box | null {
  const at = s.indexOf(":");
  if (at < 0) return null;
  const n = s.slice(0, at).split(",").map(Number);
  const label = s.slice(at + 1);
  if (n.length !== 4 || n.some((v) => !Number.isFinite(v)) || !label) return null;
  const [x, y, w, h] = n;
  return w > 0 && h > 0 ? { x, y, w, h, label } : null;
}

export function formatBox(b: Box): string {
  return `${b.x.toFixed(4)},${b.y.toFixed(4)},${b.w.toFixed(4)},${b.h.toFixed(4)}:${b.label}`;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
/** The smallest box side, relative to the image. */
export const MIN_SIDE = 0.01;
/** How far one arrow key moves or grows a box. */
export const STEP = 0.01;

/** `b` kept inside the image with at least the smallest side. */
function inside(b: Box): Box {
  const w = clamp(b.w, MIN_SIDE, 1);
  const h = clamp(b.h, MIN_SIDE, 1);
  return { ...b, w, h, x: clamp(b.x, 0, 1 - w), y: clamp(b.y, 0, 1 - h) };
}

/** Moved by (dx, dy), or with `resize` grown by them; always within the image. */
export function nudge(b: Box, dx: number, dy: number, resize: boolean): Box {
  return inside(resize ? { ...b, w: b.w + dx, h: b.h + dy } : { ...b, x: b.x + dx, y: b.y + dy });
}

/** A new box in the middle of the image, for drawing from the keyboard. */
export function centreBox(label: string): Box {
  return { x: 0.4, y: 0.4, w: 0.2, h: 0.2, label };
}

/** The box a drag from (x0, y0) to (x1, y1) draws (relative points, any direction); null when too small. */
export function dragBox(x0: number, y0: number, x1: number, y1: number, label: string): Box | null {
  const [a, b] = [clamp(Math.min(x0, x1), 0, 1), clamp(Math.max(x0, x1), 0, 1)];
  const [c, d] = [clamp(Math.min(y0, y1), 0, 1), clamp(Math.max(y0, y1), 0, 1)];
  return b - a >= MIN_SIDE && d - c >= MIN_SIDE ? { x: a, y: c, w: b - a, h: d - c, label } : null;
}
