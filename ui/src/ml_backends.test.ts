import { describe, expect, it } from "vitest";
import type { MlBackend, ModelRun } from "./bindings";
import { backendLine, modelRunsLine } from "./ml_backends";

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

describe("modelRunsLine", () => {
  const run = (version: number, held_out: number, correct: number): ModelRun => ({
    version,
    trained_at: "2026-12-06T20:00:00Z",
    trained_on: version * 100,
    seconds: 0.25,
    held_out,
    correct,
  });
  it("is empty before any run", () => {
    expect(modelRunsLine([])).toBe("");
  });
  it("says a first run is not scored yet", () => {
    expect(modelRunsLine([run(1, 0, 0)])).toContain("Not scored yet");
  });
  it("credits each score to the run whose predictions it scores", () => {
    const line = modelRunsLine([run(1, 0, 0), run(2, 40, 30), run(3, 20, 17)]);
    expect(line).toContain("Built-in model v3, trained on 300");
    expect(line).toContain("v1 75% of 40, v2 85% of 20");
  });
});
