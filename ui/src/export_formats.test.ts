import { describe, expect, it } from "vitest";
import { exportFormats } from "./export_formats";

const names = (kind: Parameters<typeof exportFormats>[0]) => exportFormats(kind).map(([f]) => f);

describe("exportFormats", () => {
  it("offers the image-set formats for boxes only", () => {
    expect(names("boxes")).toEqual(expect.arrayContaining(["coco", "yolo", "voc"]));
    expect(names("classification")).not.toContain("coco");
    expect(names("boxes")).not.toContain("prodigy");
  });

  it("offers CoNLL for spans and spaCy for categories and spans", () => {
    expect(names("spans")).toEqual(expect.arrayContaining(["conll", "spacy", "prodigy"]));
    expect(names("classification")).toContain("spacy");
    expect(names("text")).not.toContain("spacy");
    expect(names("rating")).not.toContain("conll");
  });

  it("always offers Tessera's own JSONL first", () => {
    for (const kind of ["classification", "rating", "pairwise", "text", "spans", "boxes"] as const) {
      expect(names(kind)[0]).toBe("jsonl");
    }
  });
});
