// Small SVG charts for the requester's dashboard, as pure functions of their data so they
// can be unit-tested: bars (answers per hour, time per answer) and a line (completion).
import { h } from "./dom";

export interface Point {
  label: string;
  value: number;
}

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 360;
const HEIGHT = 120;

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function frame(id: string, title: string, summary: string, body: SVGElement[]): HTMLElement {
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": `${title}: ${summary}` });
  for (const el of body) chart.append(el);
  const fig = h("figure", { class: "chart", id }, h("figcaption", {}, title, h("span", { class: "muted" }, ` — ${summary}`)));
  fig.append(chart);
  return fig;
}

/** Bars, one per point, scaled to the largest; each bar's title holds its label and value. */
export function barChart(id: string, title: string, points: Point[], unit = ""): HTMLElement {
  const max = Math.max(1, ...points.map((p) => p.value));
  const total = points.reduce((s, p) => s + p.value, 0);
  const step = WIDTH / Math.max(1, points.length);
  const bars = points.map((p, i) => {
    const height = (p.value / max) * (HEIGHT - 4);
    const bar = svg("rect", {
      class: "bar",
      x: i * step + 1,
      y: HEIGHT - height,
      width: Math.max(1, step - 2),
      height,
      "data-value": p.value,
    });
    const tip = svg("title", {});
    tip.textContent = `${p.label}: ${p.value}${unit}`;
    bar.append(tip);
    return bar;
  });
  return frame(id, title, points.length ? `${total}${unit} in all, at most ${max}${unit}` : "nothing yet", bars);
}

/** A line through the points, scaled to the largest (completion over time). */
export function lineChart(id: string, title: string, points: Point[], of: number): HTMLElement {
  const max = Math.max(1, of, ...points.map((p) => p.value));
  // One hour so far: a level line across the chart rather than an invisible point.
  const drawn = points.length === 1 ? [points[0], points[0]] : points;
  const step = WIDTH / Math.max(1, drawn.length - 1);
  const xy = drawn.map((p, i) => `${(i * step).toFixed(1)},${(HEIGHT - (p.value / max) * (HEIGHT - 4)).toFixed(1)}`);
  const body: SVGElement[] = [];
  if (xy.length) body.push(svg("polyline", { class: "line", points: xy.join(" "), fill: "none" }));
  const last = points.at(-1)?.value ?? 0;
  return frame(id, title, points.length ? `${last} of ${of} by the last hour` : "nothing yet", body);
}
