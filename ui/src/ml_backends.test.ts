import { describe, expect, it } from "vitest";
import type { MlBackend } from "./bindings";
import { backendLine } from "./ml_backends";

const backend = (over: Partial<MlBackend>): MlBackend => ({
  id: 1,
  project_id: 1,
  name: "bert",
  url: "http://127.0.0.1:9090",
  created_at: "2026-12-06T20:00:00Z",
  healthy: true,
  checked_at: null,
  last_error: null,
  model_version: "v3",
  set_up: true,
  predictions: 1200,
  queue: 30,
  failed: 0,
  webhook_id: 2,
  ...over,
});

describe("backendLine", () => {
  it("says health, version and counts", () => {
    expect(backendLine(backend({}))).toBe(`healthy, model v3: ${(1200).toLocaleString()} tasks predicted, 30 waiting`);
  });
  it("names a backend that does not answer and what it gave up on", () => {
    const line = backendLine(backend({ healthy: false, model_version: null, failed: 4 }));
    expect(line).toContain("not answering");
    expect(line).toContain("4 given up");
    expect(line).not.toContain("model");
  });
  it("says when it was never checked", () => {
    expect(backendLine(backend({ healthy: null }))).toContain("not checked yet");
  });
});
