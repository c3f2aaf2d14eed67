import { describe, expect, it, vi } from "vitest";
import type { TaskView } from "./bindings";
import { renderAnswers, renderTask, type ScreenState } from "./task_view";

const base: TaskView = {
  task_id: 7,
  kind: "classification",
  text: "The food was great",
  image: null,
  pair: null,
  labels: ["positive", "negative", "neutral"],
  multiple: false,
  instructions: null,
  prediction: { labels: ["positive"], score: 0.91, model_version: "m1" },
  answer: null,
};
const state = (over: Partial<ScreenState> = {}): ScreenState => ({
  selection: [],
  revising: false,
  rejected: false,
  helpOpen: false,
  notice: "",
  mode: "label",
  cursor: { anchor: 0, head: 0 },
  box: { selected: -1, label: 0 },
  unsure: false,
  skipping: false,
  ...over,
});
const noop = { pick: () => {}, text: () => {}, select: () => {}, draw: () => {} };

describe("renderTask", () => {
  it("highlights the machine's suggestion and the chosen label", () => {
    const el = renderTask(base, state({ selection: ["negative"] }), noop);
    expect(el.querySelector(".suggested")?.getAttribute("data-label")).toBe("positive");
    expect(el.querySelector(".chosen")?.getAttribute("data-label")).toBe("negative");
    expect(el.querySelector("#prediction")?.textContent).toContain("91%");
    expect(el.querySelector("#prediction")?.textContent).toContain("model m1");
  });
  it("drops the suggestion once the prediction is rejected", () => {
    const el = renderTask(base, state({ rejected: true }), noop);
    expect(el.querySelector(".suggested")).toBeNull();
    expect(el.querySelector("#prediction")?.textContent).toContain("rejected");
  });
  it("shows a rating as a radio scale, lowest first", () => {
    const el = renderTask({ ...base, kind: "rating", labels: ["1", "2", "3", "4", "5"], prediction: null }, state({ selection: ["4"] }), noop);
    const scale = el.querySelector('[role="radiogroup"]');
    expect(scale).not.toBeNull();
    const checked = [...el.querySelectorAll('[role="radio"]')].map((b) => b.getAttribute("aria-checked"));
    expect(checked).toEqual(["false", "false", "false", "true", "false"]);
  });
  it("shows both sides of a comparison, the prompt, and a tie when the schema has one", () => {
    const t: TaskView = {
      ...base,
      kind: "pairwise",
      text: "Which reply is kinder?",
      pair: { a: "Sure, happy to help!", b: "No." },
      labels: ["A", "B", "tie"],
      prediction: { labels: ["A"], score: null, model_version: null },
    };
    const picked = vi.fn();
    const el = renderTask(t, state({ selection: ["B"] }), { ...noop, pick: picked });
    expect(el.querySelector("#pair-a")?.textContent).toContain("Sure, happy to help!");
    expect(el.querySelector("#pair-b")?.classList.contains("chosen")).toBe(true);
    expect(el.querySelector("#pair-a")?.classList.contains("suggested")).toBe(true);
    expect(el.querySelector(".task-prompt")?.textContent).toBe("Which reply is kinder?");
    (el.querySelector("#pair-tie") as HTMLElement).click();
    expect(picked).toHaveBeenCalledWith(2);
    const noTie = renderTask({ ...t, labels: ["A", "B"] }, state(), noop);
    expect(noTie.querySelector("#pair-tie")).toBeNull();
  });
  it("gives free text a labelled box holding the answer so far, and reports typing", () => {
    const typed = vi.fn();
    const t: TaskView = { ...base, kind: "text", labels: [], text: null, image: "https://x/receipt.png", prediction: null };
    const el = renderTask(t, state({ selection: ["Total 12.50"] }), { ...noop, text: typed });
    const box = el.querySelector("#answer-text") as HTMLTextAreaElement;
    expect(box.getAttribute("aria-label")).toBe("Your answer");
    expect(box.value).toBe("Total 12.50");
    expect(el.querySelector(".labels")).toBeNull();
    box.value = "Total 12.80";
    box.dispatchEvent(new Event("input"));
    expect(typed).toHaveBeenCalledWith("Total 12.80");
  });
  it("marks spans on the words, tags each once, outlines the cursor and lists them", () => {
    const t: TaskView = {
      ...base,
      kind: "spans",
      text: "Ada Lovelace met IBM.",
      labels: ["PER", "ORG"],
      prediction: { labels: ["17:20:ORG"], score: null, model_version: null },
    };
    const el = renderTask(t, state({ selection: ["0:12:PER"], cursor: { anchor: 2, head: 3 } }), noop);
    const tokens = [...el.querySelectorAll(".tok")];
    expect(tokens.map((x) => x.textContent)).toEqual(["Ada", "Lovelace", "met", "IBM", "."]);
    expect(tokens.map((x) => x.getAttribute("data-label"))).toEqual(["PER", "PER", null, null, null]);
    expect(el.querySelectorAll(".ent-tag").length).toBe(1);
    expect(tokens[3].classList.contains("suggested")).toBe(true);
    expect(tokens.filter((x) => x.classList.contains("cursor")).map((x) => x.textContent)).toEqual(["met", "IBM"]);
    expect(el.querySelector("#task-text")?.textContent).toBe("Ada LovelacePER met IBM.");
    expect(el.querySelector("#spans-list")?.textContent).toBe("Ada Lovelace — PER");
    expect(el.querySelector("#prediction-labels")?.textContent).toBe("IBM — ORG");
  });

  it("draws boxes over the image in percent, the selected one marked, predictions dashed", () => {
    const t: TaskView = {
      ...base,
      kind: "boxes",
      text: null,
      image: "data:image/png;base64,AAAA",
      labels: ["car", "person"],
      prediction: { labels: ["0.5,0.5,0.25,0.25:person"], score: null, model_version: null },
    };
    const el = renderTask(t, state({ selection: ["0.1,0.2,0.3,0.4:car"], box: { selected: 0, label: 1 } }), noop);
    const boxes = [...el.querySelectorAll<HTMLElement>(".bbox")];
    expect(boxes.map((b) => b.getAttribute("data-label"))).toEqual(["person", "car"]);
    expect(boxes[0].classList.contains("suggested")).toBe(true);
    expect(boxes[1].classList.contains("selected")).toBe(true);
    expect(boxes[1].style.left).toBe("10%");
    expect(boxes[1].style.height).toBe("40%");
    expect(el.querySelector('[aria-checked="true"]')?.getAttribute("data-label")).toBe("person");
    expect(el.querySelector("#prediction-labels")?.textContent).toBe("1 box: person (dashed)");
  });

  it("lists every key of the kind in the help panel", () => {
    const el = renderTask({ ...base, kind: "pairwise", pair: { a: "x", b: "y" }, labels: ["A", "B"] }, state({ helpOpen: true }), noop);
    const keys = [...el.querySelectorAll("#help dt")].map((d) => d.textContent);
    expect(keys).toContain("1 or ←");
    expect(keys).toContain("A");
  });
  it("shows the unsure flag and, after S, the reasons to skip", () => {
    const el = renderTask(base, state({ unsure: true, skipping: true }), noop);
    expect(el.querySelector("#unsure")?.textContent).toContain("review");
    const question = el.querySelector("#skip-question")?.textContent ?? "";
    expect(question).toContain("1 unclear");
    expect(question).toContain("Esc keep the task");
    expect(renderTask(base, state(), noop).querySelector("#skip-question, #unsure")).toBeNull();
  });

  it("never parses task text as HTML", () => {
    const el = renderTask({ ...base, text: "<img src=x onerror=alert(1)>" }, state(), noop);
    expect(el.querySelector("#task-text img")).toBeNull();
    expect(el.querySelector("#task-text")?.textContent).toBe("<img src=x onerror=alert(1)>");
  });
});

describe("renderAnswers", () => {
  it("shows every annotator's answer, skips as such, and the consensus with its confidence", () => {
    const el = renderAnswers({
      task: base,
      answers: [
        { annotator: "ann", labels: ["positive"] },
        { annotator: "bo", labels: ["negative"] },
        { annotator: "cy", labels: [] },
      ],
      consensus: { labels: ["positive"], confidence: 0.5 },
    });
    const rows = [...el.querySelectorAll("li")].map((li) => li.textContent);
    expect(rows).toEqual(["annpositive", "bonegative", "cy(skipped)"]);
    expect(el.querySelector("#consensus")?.textContent).toContain("positive");
    expect(el.querySelector("#consensus")?.textContent).toContain("50%");
  });
});
