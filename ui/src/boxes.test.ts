import { describe, expect, it } from "vitest";
import { centreBox, dragBox, formatBox, nudge, parseBox } from "./boxes";

describe("boxes", () => {
  it("read and write the server's form", () => {
    const b = parseBox("0.1,0.2,0.3,0.4:car");
    expect(b).toEqual({ x: 0.1, y: 0.2, w: 0.3, h: 0.4, label: "car" });
    expect(formatBox(b!)).toBe("0.1000,0.2000,0.3000,0.4000:car");
    expect(parseBox("0.1,0.2,0,0.4:car")).toBeNull();
    expect(parseBox("0.1,0.2,0.3:car")).toBeNull();
  });
  it("move and grow by the arrow keys, never leaving the image", () => {
    const b = centreBox("car");
    expect(formatBox(nudge(nudge(b, 0.01, 0, false), 0.01, 0, false))).toBe("0.4200,0.4000,0.2000,0.2000:car");
    expect(formatBox(nudge(b, 0.01, -0.01, true))).toBe("0.4000,0.4000,0.2100,0.1900:car");
    expect(nudge({ ...b, x: 0.79 }, 0.05, 0, false).x).toBeCloseTo(0.8);
    expect(nudge({ ...b, w: 0.01 }, -0.01, 0, true).w).toBeCloseTo(0.01);
  });
  it("draw from a drag in any direction, ignoring a click", () => {
    expect(dragBox(0.5, 0.6, 0.2, 0.1, "car")).toEqual({ x: 0.2, y: 0.1, w: 0.3, h: 0.5, label: "car" });
    expect(dragBox(0.5, 0.5, 0.503, 0.6, "car")).toBeNull();
    expect(dragBox(-0.2, 0.1, 0.3, 1.4, "car")).toEqual({ x: 0, y: 0.1, w: 0.3, h: 0.9, label: "car" });
  });
});
