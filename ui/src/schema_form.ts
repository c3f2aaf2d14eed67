// The schema editor's form values as the project's label schema JSON: pure, so the rules
// (labels per kind, adaptive overlap) are unit-tested; the Rust side validates again.
import type { SchemaKind } from "./bindings";

export interface SchemaForm {
  kind: SchemaKind;
  /** One label per line. */
  labels: string;
  multiple: boolean;
  overlap: string;
  minOverlap: string;
  confidenceTarget: string;
  goldRate: string;
  instructions: string;
}

/** The schema as an object, or the first thing wrong with the form. */
export function schemaFromForm(f: SchemaForm): { schema: Record<string, unknown> } | { error: string } {
  const labels = f.labels
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const schema: Record<string, unknown> = { kind: f.kind };
  if (f.kind === "text") {
    if (labels.length) return { error: "A free-text project takes no labels." };
  } else if (f.kind === "pairwise" && labels.length === 0) {
    schema.labels = ["A", "B", "tie"];
  } else {
    schema.labels = labels;
  }
  if (f.multiple && f.kind === "classification") schema.multiple = true;
  const int = (v: string, name: string): number | string | null => {
    if (v.trim() === "") return null;
    const n = Number(v);
    return Number.isInteger(n) && n > 0 ? n : `${name} must be a whole number above 0.`;
  };
  const share = (v: string, name: string): number | string | null => {
    if (v.trim() === "") return null;
    const n = Number(v.replace("%", "")) / (v.includes("%") ? 100 : 1);
    return Number.isFinite(n) && n >= 0 && n <= 1 ? n : `${name} must be between 0 and 1 (or 0%–100%).`;
  };
  const fields: [string, number | string | null][] = [
    ["overlap", int(f.overlap, "Overlap")],
    ["min_overlap", int(f.minOverlap, "Minimum overlap")],
    ["confidence_target", share(f.confidenceTarget, "Confidence target")],
    ["gold_rate", share(f.goldRate, "Gold rate")],
  ];
  for (const [key, value] of fields) {
    if (typeof value === "string") return { error: value };
    if (value !== null) schema[key] = value;
  }
  if (schema.min_overlap !== undefined && schema.confidence_target === undefined) {
    return { error: "A minimum overlap needs a confidence target: it says when fewer answers are enough." };
  }
  if (f.instructions.trim()) schema.instructions = f.instructions.trim();
  return { schema };
}
