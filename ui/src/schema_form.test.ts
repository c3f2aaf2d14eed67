import { describe, expect, it } from "vitest";
import { type SchemaForm, schemaFromForm } from "./schema_form";

const form = (over: Partial<SchemaForm> = {}): SchemaForm => ({
  kind: "classification",
  labels: "positive\nnegative\n\n neutral ",
  multiple: false,
  overlap: "3",
  minOverlap: "",
  confidenceTarget: "",
  goldRate: "",
  instructions: "",
  ...over,
});

describe("schemaFromForm", () => {
  it("builds a classification schema from the lines, blanks dropped and trimmed", () => {
    expect(schemaFromForm(form())).toEqual({
      schema: { kind: "classification", labels: ["positive", "negative", "neutral"], overlap: 3 },
    });
  });
  it("reads adaptive overlap, percentages and instructions", () => {
    const out = schemaFromForm(form({ minOverlap: "2", confidenceTarget: "80%", goldRate: "0.05", instructions: " Be quick " }));
    expect(out).toEqual({
      schema: {
        kind: "classification",
        labels: ["positive", "negative", "neutral"],
        overlap: 3,
        min_overlap: 2,
        confidence_target: 0.8,
        gold_rate: 0.05,
        instructions: "Be quick",
      },
    });
  });
  it("explains what is wrong", () => {
    expect(schemaFromForm(form({ overlap: "two" }))).toEqual({ error: "Overlap must be a whole number above 0." });
    expect(schemaFromForm(form({ minOverlap: "2" }))).toHaveProperty("error");
    expect(schemaFromForm(form({ goldRate: "150%" }))).toHaveProperty("error");
    expect(schemaFromForm(form({ kind: "text" }))).toEqual({ error: "A free-text project takes no labels." });
  });
  it("gives pairwise its default verdicts and free text none", () => {
    expect(schemaFromForm(form({ kind: "pairwise", labels: "" }))).toEqual({
      schema: { kind: "pairwise", labels: ["A", "B", "tie"], overlap: 3 },
    });
    expect(schemaFromForm(form({ kind: "text", labels: "" }))).toEqual({ schema: { kind: "text", overlap: 3 } });
  });
});
