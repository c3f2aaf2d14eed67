// The requester's charts, drawn by Observable Plot with axes, units and labelled values:
// progress, answers per annotator, agreement over time, time per answer and labels.
// Buckets come sized from the server (a minute for a short job, a day for a long one).
import * as Plot from "@observablehq/plot";
import type { SecondsBucket, Timeline } from "./bindings";
import { h } from "./dom";

const WIDTH = 440;
const HEIGHT = 210;

/** A bucket length in words: "minute", "5 minutes", "hour", "day"… */
export function bucketName(seconds: number): string {
  const units: [number, string][] = [
    [604_800, "week"],
    [86_400, "day"],
    [3_600, "hour"],
    [60, "minute"],
  ];
  for (const [size, name] of units) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return n === 1 ? name : `${n} ${name}s`;
    }
  }
  return `${seconds} seconds`;
}

function figure(id: string, title: string, summary: string, plot: Element | null): HTMLElement {
  const fig = h("figure", { class: "chart", id }, h("figcaption", {}, title, h("span", { class: "muted" }, ` — ${summary}`)));
  if (plot) {
    plot.setAttribute("role", "img");
    plot.setAttribute("aria-label", `${title}: ${summary}`);
    fig.append(plot);
  }
  return fig;
}

const base = { width: WIDTH, height: HEIGHT, className: "chart-plot", style: { background: "transparent", fontSize: "11px" } } as const;

/** Tasks complete at the end of each bucket, against the tasks there are. */
export function progressChart(id: string, timeline: Timeline, of: number): HTMLElement {
  const data = timeline.buckets.map((b) => ({ at: new Date(b.start), complete: b.complete }));
  const last = data.at(-1)?.complete ?? 0;
  if (!data.length) return figure(id, "Progress", "nothing yet", null);
  const plot = Plot.plot({
    ...base,
    x: { type: "utc", label: null },
    y: { label: "tasks complete", domain: [0, Math.max(1, of, last)], grid: true },
    marks: [
      Plot.ruleY([of], { stroke: "currentColor", strokeOpacity: 0.4, strokeDasharray: "4 3" }),
      Plot.areaY(data, { x: "at", y: "complete", fill: "var(--ok)", fillOpacity: 0.15, curve: "step-after" }),
      Plot.lineY(data, { x: "at", y: "complete", stroke: "var(--ok)", strokeWidth: 2, curve: "step-after", tip: true }),
      Plot.text([data[data.length - 1]], { x: "at", y: "complete", text: (d) => String(d.complete), dy: -8, fill: "currentColor" }),
    ],
  });
  return figure(id, "Progress", `${last} of ${of} tasks complete`, plot);
}

/** Answers per bucket, stacked by annotator (`names`: annotator id → name). */
export function answersChart(id: string, timeline: Timeline, names: Map<number, string>): HTMLElement {
  const step = timeline.bucket_seconds * 1000;
  const data = timeline.buckets.flatMap((b) =>
    Object.entries(b.answers_by_annotator).map(([annotator, n]) => ({
      from: new Date(b.start),
      to: new Date(Date.parse(b.start) + step),
      annotator: names.get(Number(annotator)) ?? `#${annotator}`,
      answers: n,
    })),
  );
  const unit = bucketName(timeline.bucket_seconds);
  const total = data.reduce((s, d) => s + d.answers, 0);
  if (!data.length) return figure(id, "Answers", "nothing yet", null);
  const peak = Math.max(...timeline.buckets.map((b) => b.answers));
  const plot = Plot.plot({
    ...base,
    x: { type: "utc", label: null },
    y: { label: `answers per ${unit}`, grid: true, ticks: Math.min(5, peak), tickFormat: "d" },
    color: { legend: true, scheme: "observable10" },
    marks: [Plot.rectY(data, { x1: "from", x2: "to", y: "answers", fill: "annotator", inset: 0.5, tip: true }), Plot.ruleY([0])],
  });
  return figure(id, `Answers per ${unit}`, `${total} in all, at most ${peak} in one ${unit}`, plot);
}

/** Share of agreeing answer pairs on the tasks completed in each bucket. */
export function agreementChart(id: string, timeline: Timeline): HTMLElement {
  const data = timeline.buckets.filter((b) => b.agreement !== null).map((b) => ({ at: new Date(b.start), agreement: b.agreement as number }));
  if (!data.length) return figure(id, "Agreement over time", "no task completed with two answers yet", null);
  const mean = data.reduce((s, d) => s + d.agreement, 0) / data.length;
  const plot = Plot.plot({
    ...base,
    x: { type: "utc", label: null },
    y: { label: "agreeing pairs (%)", domain: [0, 100], grid: true, percent: true },
    marks: [
      Plot.lineY(data, { x: "at", y: "agreement", stroke: "var(--accent)", strokeWidth: 1.5 }),
      Plot.dot(data, { x: "at", y: "agreement", fill: "var(--accent)", r: 2.5, tip: true }),
    ],
  });
  return figure(id, "Agreement over time", `${Math.round(mean * 100)}% on average, per ${bucketName(timeline.bucket_seconds)}`, plot);
}

/** How long answers take: answers per bucket of seconds. */
export function secondsChart(id: string, buckets: SecondsBucket[], median: number | null): HTMLElement {
  const data = buckets.map((b) => ({ bucket: `≤ ${b.up_to_seconds}`, answers: b.answers }));
  const total = data.reduce((s, d) => s + d.answers, 0);
  if (!total) return figure(id, "Time per answer", "nothing timed yet", null);
  const plot = Plot.plot({
    ...base,
    x: { label: "seconds per answer", domain: data.map((d) => d.bucket) },
    y: { label: "answers", grid: true },
    marks: [
      Plot.barY(data, { x: "bucket", y: "answers", fill: "var(--accent)" }),
      Plot.text(data.filter((d) => d.answers > 0), { x: "bucket", y: "answers", text: (d) => String(d.answers), dy: -6, fill: "currentColor" }),
      Plot.ruleY([0]),
    ],
  });
  const middle = median === null ? "" : `, median ${median.toFixed(1)} s`;
  return figure(id, "Time per answer", `${total} answers timed${middle}`, plot);
}

/** Tasks by consensus label, most first, each bar with its count. */
export function labelsChart(id: string, counts: Record<string, number>): HTMLElement {
  const data = Object.entries(counts)
    .map(([label, tasks]) => ({ label, tasks }))
    .sort((a, b) => b.tasks - a.tasks || a.label.localeCompare(b.label));
  if (!data.length) return figure(id, "Labels", "no consensus yet", null);
  const total = data.reduce((s, d) => s + d.tasks, 0);
  const plot = Plot.plot({
    ...base,
    height: Math.max(90, 34 + data.length * 24),
    marginLeft: 110,
    x: { label: "tasks", grid: true },
    y: { label: null, domain: data.map((d) => d.label) },
    marks: [
      Plot.barX(data, { y: "label", x: "tasks", fill: "var(--accent)" }),
      Plot.text(data, { y: "label", x: "tasks", text: (d) => String(d.tasks), dx: 4, textAnchor: "start", fill: "currentColor" }),
      Plot.ruleX([0]),
    ],
  });
  return figure(id, "Labels", `${total} tasks with a consensus, ${data.length} labels`, plot);
}
