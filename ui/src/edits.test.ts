import { describe, expect, it } from "vitest";
import type { TaskView } from "./bindings";
import { draftOf, editAnswer, emptyAnswerAllowed } from "./edits";

const task = (over: Partial<TaskView>): TaskView => ({
  task_id: 1,
  kind: "classification",
  text: null,
  image: null,
  pair: null,
  labels: ["a", "b"],
  multiple: false,
  instructions: null,
  prediction: null,
  answer: null,
  ...over,
});

describe("editAnswer", () => {
  it("picks for choice kinds and leaves other keys alone", () => {
    const t = task({ multiple: true });
    const d = editAnswer(t, editAnswer(t, draftOf(null), { kind: "pick", index: 1 })!, { kind: "pick", index: 0 })!;
    expect(d.selection).toEqual(["b", "a"]);
    expect(editAnswer(t, d, { kind: "submit" })).toBeNull();
    expect(editAnswer(t, d, { kind: "pick", index: 5 })).toBe(d);
  });
  it("marks spans over the words the cursor covers", () => {
    const t = task({ kind: "spans", text: "Ada Lovelace met IBM.", labels: ["PER", "ORG"] });
    let d = draftOf(null);
    d = editAnswer(t, d, { kind: "move", by: 1, extend: true })!;
    d = editAnswer(t, d, { kind: "pick", index: 0 })!;
    d = editAnswer(t, d, { kind: "move", by: 2, extend: false })!;
    d = editAnswer(t, d, { kind: "pick", index: 1 })!;
    expect(d.selection).toEqual(["0:12:PER", "17:20:ORG"]);
    d = editAnswer(t, d, { kind: "move", by: 9, extend: false })!;
    expect(d.cursor).toEqual({ anchor: 4, head: 4 });
    d = editAnswer(t, { ...d, cursor: { anchor: 0, head: 0 } }, { kind: "unmark" })!;
    expect(d.selection).toEqual(["17:20:ORG"]);
  });
  it("adds, relabels, moves, cycles and deletes boxes", () => {
    const t = task({ kind: "boxes", image: "x.png", labels: ["car", "person"] });
    let d = editAnswer(t, draftOf(null), { kind: "newbox" })!;
    d = editAnswer(t, d, { kind: "newbox" })!;
    d = editAnswer(t, d, { kind: "pick", index: 1 })!;
    d = editAnswer(t, d, { kind: "nudge", dx: 0.1, dy: 0, resize: false })!;
    expect(d.selection).toEqual(["0.4000,0.4000,0.2000,0.2000:car", "0.5000,0.4000,0.2000,0.2000:person"]);
    d = editAnswer(t, d, { kind: "nextbox" })!;
    expect(d.box.selected).toBe(0);
    d = editAnswer(t, d, { kind: "unmark" })!;
    expect(d.selection).toEqual(["0.5000,0.4000,0.2000,0.2000:person"]);
    expect(d.box).toEqual({ selected: 0, label: 1 });
  });
  it("lets only spans and boxes be answered with nothing", () => {
    expect(["spans", "boxes", "text", "classification"].map((k) => emptyAnswerAllowed(k as TaskView["kind"]))).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});
