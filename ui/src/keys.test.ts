import { describe, expect, it } from "vitest";
import { actionForKey, formatScore, type KeyContext, keyHelp, pick, quantile } from "./keys";

const ctx = (over: Partial<KeyContext> = {}): KeyContext => ({
  kind: "classification",
  labelCount: 3,
  hasPrediction: false,
  typing: false,
  shift: false,
  mode: "label",
  skipping: false,
  ...over,
});

describe("actionForKey", () => {
  it("maps digits to label picks within range only", () => {
    expect(actionForKey("1", ctx())).toEqual({ kind: "pick", index: 0 });
    expect(actionForKey("3", ctx())).toEqual({ kind: "pick", index: 2 });
    expect(actionForKey("4", ctx())).toBeNull();
    expect(actionForKey("0", ctx())).toBeNull();
  });
  it("maps the flow keys, in either case", () => {
    expect(actionForKey("Enter", ctx())).toEqual({ kind: "submit" });
    expect(actionForKey("s", ctx())).toEqual({ kind: "skip" });
    expect(actionForKey("S", ctx())).toEqual({ kind: "skip" });
    expect(actionForKey("Backspace", ctx())).toEqual({ kind: "back" });
    expect(actionForKey("?", ctx())).toEqual({ kind: "help" });
    expect(actionForKey("P", ctx())).toEqual({ kind: "projects" });
    expect(actionForKey("x", ctx())).toBeNull();
  });
  it("offers accept, correct and reject only beside a prediction", () => {
    expect(actionForKey("a", ctx())).toBeNull();
    expect(actionForKey("a", ctx({ hasPrediction: true }))).toEqual({ kind: "accept" });
    expect(actionForKey("C", ctx({ hasPrediction: true }))).toEqual({ kind: "correct" });
    expect(actionForKey("r", ctx({ hasPrediction: true }))).toEqual({ kind: "reject" });
  });
  it("maps arrows to the sides of a comparison, and the tie only when there is one", () => {
    const pair = ctx({ kind: "pairwise", labelCount: 2 });
    expect(actionForKey("ArrowLeft", pair)).toEqual({ kind: "pick", index: 0 });
    expect(actionForKey("ArrowRight", pair)).toEqual({ kind: "pick", index: 1 });
    expect(actionForKey("=", pair)).toBeNull();
    expect(actionForKey("=", { ...pair, labelCount: 3 })).toEqual({ kind: "pick", index: 2 });
    expect(actionForKey("ArrowLeft", ctx())).toBeNull();
  });
  it("leaves typed characters to the text box; Enter saves, Shift+Enter does not, Esc leaves", () => {
    const typing = ctx({ kind: "text", labelCount: 0, typing: true });
    for (const key of ["s", "1", "?", "Backspace", "a", "p"]) expect(actionForKey(key, typing)).toBeNull();
    expect(actionForKey("Enter", typing)).toEqual({ kind: "submit" });
    expect(actionForKey("Enter", { ...typing, shift: true })).toBeNull();
    expect(actionForKey("Escape", typing)).toEqual({ kind: "leave" });
    const away = { ...typing, typing: false };
    expect(actionForKey("e", away)).toEqual({ kind: "edit" });
    expect(actionForKey("1", away)).toBeNull();
    expect(actionForKey("s", away)).toEqual({ kind: "skip" });
  });
});

describe("review mode", () => {
  it("takes the consensus with A, has no prediction review or going back, and V leaves", () => {
    const review = ctx({ mode: "review" });
    expect(actionForKey("a", review)).toEqual({ kind: "accept" });
    expect(actionForKey("c", { ...review, hasPrediction: true })).toBeNull();
    expect(actionForKey("r", { ...review, hasPrediction: true })).toBeNull();
    expect(actionForKey("Backspace", review)).toBeNull();
    expect(actionForKey("v", review)).toEqual({ kind: "review" });
    expect(actionForKey("2", review)).toEqual({ kind: "pick", index: 1 });
    expect(keyHelp("classification", 3, "review").map(([k]) => k)).not.toContain("Backspace");
  });
});

describe("spans", () => {
  it("moves the word cursor with the arrows, stretches with Shift, unmarks with X", () => {
    const spans = ctx({ kind: "spans", labelCount: 2 });
    expect(actionForKey("ArrowRight", spans)).toEqual({ kind: "move", by: 1, extend: false });
    expect(actionForKey("ArrowLeft", { ...spans, shift: true })).toEqual({ kind: "move", by: -1, extend: true });
    expect(actionForKey("x", spans)).toEqual({ kind: "unmark" });
    expect(actionForKey("Delete", spans)).toEqual({ kind: "unmark" });
    expect(actionForKey("2", spans)).toEqual({ kind: "pick", index: 1 });
    expect(actionForKey("x", ctx())).toBeNull();
    expect(keyHelp("spans", 2).map(([k]) => k)).toContain("Shift+← →");
  });
});

describe("boxes", () => {
  it("draws, moves, resizes, cycles and deletes from the keyboard", () => {
    const boxes = ctx({ kind: "boxes", labelCount: 2 });
    expect(actionForKey("b", boxes)).toEqual({ kind: "newbox" });
    expect(actionForKey("ArrowUp", boxes)).toEqual({ kind: "nudge", dx: 0, dy: -0.01, resize: false });
    expect(actionForKey("ArrowRight", { ...boxes, shift: true })).toEqual({ kind: "nudge", dx: 0.01, dy: 0, resize: true });
    expect(actionForKey("Tab", boxes)).toEqual({ kind: "nextbox" });
    expect(actionForKey("x", boxes)).toEqual({ kind: "unmark" });
    expect(actionForKey("Tab", ctx())).toBeNull();
  });
});

describe("unsure and skip reasons", () => {
  it("flags unsure with U while labeling only", () => {
    expect(actionForKey("u", ctx())).toEqual({ kind: "unsure" });
    expect(actionForKey("u", ctx({ mode: "review" }))).toBeNull();
  });
  it("asks why after S: a digit gives the reason, S again none, Esc cancels, other keys wait", () => {
    const asking = ctx({ skipping: true });
    expect(actionForKey("2", asking)).toEqual({ kind: "skipWith", reason: "broken or missing data" });
    expect(actionForKey("6", asking)).toBeNull();
    expect(actionForKey("s", asking)).toEqual({ kind: "skip" });
    expect(actionForKey("Escape", asking)).toEqual({ kind: "cancel" });
    expect(actionForKey("Enter", asking)).toBeNull();
  });
});

describe("keyHelp", () => {
  it("lists a key for every action a kind's screen takes", () => {
    const kinds = [
      ["classification", "1–3"],
      ["rating", "1–3"],
      ["pairwise", "1 or ←"],
      ["text", "E"],
    ] as const;
    for (const [kind, first] of kinds) {
      const keys = keyHelp(kind, 3).map(([k]) => k);
      expect(keys[0]).toBe(first);
      for (const k of ["Enter", "A", "C", "R", "S", "Backspace", "P", "?"]) expect(keys).toContain(k);
    }
    expect(keyHelp("pairwise", 2).map(([k]) => k)).not.toContain("3, = or ↓");
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

describe("quantile", () => {
  it("takes the nearest rank", () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(quantile(xs, 0.95)).toBe(10);
    expect(quantile(xs, 0.5)).toBe(5);
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile([], 0.95)).toBeNull();
  });
});
