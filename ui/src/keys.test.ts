import { describe, expect, it } from "vitest";
import { actionForKey, formatScore, pick } from "./keys";

describe("actionForKey", () => {
  it("maps digits to label picks within range only", () => {
    expect(actionForKey("1", 3)).toEqual({ kind: "pick", index: 0 });
    expect(actionForKey("3", 3)).toEqual({ kind: "pick", index: 2 });
    expect(actionForKey("4", 3)).toBeNull();
    expect(actionForKey("0", 3)).toBeNull();
  });
  it("maps the flow keys", () => {
    expect(actionForKey("Enter", 3)).toEqual({ kind: "submit" });
    expect(actionForKey("s", 3)).toEqual({ kind: "skip" });
    expect(actionForKey("S", 3)).toEqual({ kind: "skip" });
    expect(actionForKey("Backspace", 3)).toEqual({ kind: "back" });
    expect(actionForKey("?", 3)).toEqual({ kind: "help" });
    expect(actionForKey("x", 3)).toBeNull();
  });
});

describe("pick", () => {
  it("replaces the choice for single-choice schemas", () => {
    expect(pick(["a"], "b", false)).toEqual(["b"]);
  });
  it("toggles for multiple-choice schemas", () => {
    expect(pick(["a"], "b", true)).toEqual(["a", "b"]);
    expect(pick(["a", "b"], "a", true)).toEqual(["b"]);
  });
});

describe("formatScore", () => {
  it("rounds to a percentage", () => {
    expect(formatScore(0.873)).toBe("87%");
    expect(formatScore(null)).toBe("");
  });
});
