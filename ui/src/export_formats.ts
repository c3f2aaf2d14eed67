// The export formats the project screen offers: those that can hold the project's kind.

import type { SchemaKind } from "./bindings";

/** The export formats that can hold a project of `kind`, with what each is for. */
export function exportFormats(kind: SchemaKind): [string, string][] {
  const all: [string, string, (k: SchemaKind) => boolean][] = [
    ["jsonl", "Tessera JSONL (uploads back whole)", () => true],
    ["csv", "CSV", () => true],
    ["tsv", "TSV", () => true],
    ["ls-json", "Label Studio JSON", () => true],
    ["ls-json-min", "Label Studio JSON_MIN", () => true],
    ["ls-config", "Label Studio labeling config", () => true],
    ["crowdkit", "crowd-kit answers CSV", () => true],
    ["prodigy", "Prodigy JSONL", (k) => k !== "text" && k !== "boxes"],
    ["toloka", "Toloka TSV", () => true],
    ["conll", "CoNLL-2003 tags", (k) => k === "spans"],
    ["spacy", "spaCy JSONL", (k) => k === "classification" || k === "spans"],
    ["coco", "COCO", (k) => k === "boxes"],
    ["yolo", "YOLO (zip)", (k) => k === "boxes"],
    ["voc", "Pascal VOC (zip)", (k) => k === "boxes"],
  ];
  return all.filter(([, , fits]) => fits(kind)).map(([f, name]) => [f, name]);
}
