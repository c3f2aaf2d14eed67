import { describe, expect, it } from "vitest";
import { barChart, lineChart } from "./charts";

describe("barChart", () => {
  it("draws one bar per point, heights proportional to the values", () => {
    const fig = barChart("c", "Answers per hour", [
      { label: "09:00", value: 10 },
      { label: "10:00", value: 0 },
      { label: "11:00", value: 5 },
    ]);
    const bars = [...fig.querySelectorAll("rect.bar")];
    expect(bars.length).toBe(3);
    const heights = bars.map((b) => Number(b.getAttribute("height")));
    expect(heights[1]).toBe(0);
    expect(heights[0]).toBeCloseTo(2 * heights[2]);
    expect(bars[2].querySelector("title")?.textContent).toBe("11:00: 5");
    expect(fig.querySelector("svg")?.getAttribute("aria-label")).toBe("Answers per hour: 15 in all, at most 10");
  });
  it("says so when there is nothing to draw", () => {
    const fig = barChart("c", "Answers per hour", []);
    expect(fig.querySelectorAll("rect").length).toBe(0);
    expect(fig.textContent).toContain("nothing yet");
  });
});

describe("lineChart", () => {
  it("draws the line against the whole, ending at the last value", () => {
    const fig = lineChart("c", "Complete", [
      { label: "a", value: 0 },
      { label: "b", value: 50 },
      { label: "c", value: 100 },
    ], 100);
    const points = fig.querySelector("polyline")?.getAttribute("points")?.split(" ") ?? [];
    expect(points.length).toBe(3);
    expect(points[2]).toBe("360.0,4.0");
    expect(fig.textContent).toContain("100 of 100");
  });
});

describe("lineChart with one hour", () => {
  it("draws a level line across rather than a lone point", () => {
    const fig = lineChart("c", "Complete", [{ label: "a", value: 4 }], 4);
    const points = fig.querySelector("polyline")?.getAttribute("points")?.split(" ") ?? [];
    expect(points).toEqual(["0.0,4.0", "360.0,4.0"]);
  });
});
