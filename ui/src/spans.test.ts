import { describe, expect, it } from "vitest";
import { addSpan, parseSpan, removeSpans, spanText, tokenize } from "./spans";

describe("tokenize", () => {
  it("cuts words and marks by code point, skipping spaces", () => {
    const t = tokenize("Zoë's café, 2024!");
    expect(t.map((x) => x.text)).toEqual(["Zoë's", "café", ",", "2024", "!"]);
    expect(t.map((x) => [x.start, x.end])).toEqual([[0, 5], [6, 10], [10, 11], [12, 16], [16, 17]]);
    // Characters outside the BMP count once, as the server counts them.
    expect(tokenize("🙂 Ada").map((x) => [x.start, x.end])).toEqual([[0, 1], [2, 5]]);
  });
});

describe("span editing", () => {
  it("adds in text order, replacing what overlaps", () => {
    let spans = addSpan([], 8, 11, "ORG");
    spans = addSpan(spans, 0, 3, "PER");
    expect(spans).toEqual(["0:3:PER", "8:11:ORG"]);
    expect(addSpan(spans, 2, 9, "LOC")).toEqual(["2:9:LOC"]);
    expect(addSpan(spans, 3, 8, "LOC")).toEqual(["0:3:PER", "3:8:LOC", "8:11:ORG"]);
  });
  it("removes only what overlaps", () => {
    expect(removeSpans(["0:3:PER", "8:11:ORG"], 9, 10)).toEqual(["0:3:PER"]);
    expect(removeSpans(["0:3:PER"], 3, 5)).toEqual(["0:3:PER"]);
  });
  it("reads spans and their text", () => {
    expect(parseSpan("0:3:A:B")).toEqual({ start: 0, end: 3, label: "A:B" });
    expect(parseSpan("3:3:X")).toBeNull();
    expect(spanText("🙂 Ada met IBM", { start: 2, end: 5, label: "PER" })).toBe("Ada");
  });
});
