import { describe, expect, it } from "vitest";
import type { Timeline } from "./bindings";
import { agreementChart, answersChart, bucketName, labelsChart, progressChart, secondsChart } from "./charts";

const minutes: Timeline = {
  bucket_seconds: 60,
  buckets: [
    { start: "2026-03-01T10:00:00Z", answers: 3, answers_by_annotator: { "1": 2, "2": 1 }, complete: 1, agreement: 1 },
    { start: "2026-03-01T10:01:00Z", answers: 0, answers_by_annotator: {}, complete: 1, agreement: null },
    { start: "2026-03-01T10:02:00Z", answers: 4, answers_by_annotator: { "2": 4 }, complete: 3, agreement: 0.5 },
  ],
};

const ticks = (fig: HTMLElement) => [...fig.querySelectorAll("[aria-label$='tick label'] text, g[aria-label*='tick label'] text")].map((t) => t.textContent);

describe("bucketName", () => {
  it("names the bucket length as people say it", () => {
    expect(bucketName(60)).toBe("minute");
    expect(bucketName(300)).toBe("5 minutes");
    expect(bucketName(3600)).toBe("hour");
    expect(bucketName(21600)).toBe("6 hours");
    expect(bucketName(86400)).toBe("day");
    expect(bucketName(604800)).toBe("week");
  });
});

describe("answersChart", () => {
  it("stacks each annotator's answers per bucket, with the unit on the y axis and a legend", () => {
    const fig = answersChart("c", minutes, new Map([[1, "ana"], [2, "bo"]]));
    expect(fig.querySelector("figcaption")?.textContent).toContain("Answers per minute");
    expect(fig.textContent).toContain("7 in all, at most 4 in one minute");
    expect(fig.textContent).toContain("answers per minute");
    expect(fig.querySelectorAll("rect").length).toBeGreaterThanOrEqual(3);
    expect(fig.textContent).toContain("ana");
    expect(fig.textContent).toContain("bo");
    expect(ticks(fig).length).toBeGreaterThan(2);
  });
  it("says so when there is nothing to draw", () => {
    const fig = answersChart("c", { bucket_seconds: 3600, buckets: [] }, new Map());
    expect(fig.querySelector("svg")).toBeNull();
    expect(fig.textContent).toContain("nothing yet");
  });
});

describe("progressChart", () => {
  it("draws completion against the tasks there are and labels the last value", () => {
    const fig = progressChart("c", minutes, 10);
    expect(fig.textContent).toContain("3 of 10 tasks complete");
    expect(fig.textContent).toContain("tasks complete");
    expect(fig.querySelector("path")).not.toBeNull();
    // The y axis reaches the whole: a tick at 10.
    expect(ticks(fig)).toContain("10");
  });
});

describe("agreementChart", () => {
  it("plots only buckets where tasks completed, in percent", () => {
    const fig = agreementChart("c", minutes);
    expect(fig.querySelectorAll("circle").length).toBe(2);
    expect(fig.textContent).toContain("75% on average");
    expect(ticks(fig)).toContain("100");
  });
});

describe("secondsChart and labelsChart", () => {
  it("label each bar with its count", () => {
    const secs = secondsChart("s", [{ up_to_seconds: 2, answers: 0 }, { up_to_seconds: 5, answers: 7 }], 4.5);
    expect(secs.textContent).toContain("7 answers timed, median 4.5 s");
    expect(secs.textContent).toContain("seconds per answer");
    const labels = labelsChart("l", { positive: 12, negative: 30 });
    expect(labels.textContent).toContain("42 tasks with a consensus, 2 labels");
    const values = [...labels.querySelectorAll("text")].map((t) => t.textContent);
    expect(values).toContain("12");
    expect(values).toContain("30");
    // Most first.
    expect(values.indexOf("negative")).toBeLessThan(values.indexOf("positive"));
  });
});
