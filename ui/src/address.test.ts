import { describe, expect, it } from "vitest";
import { inClearToAnotherHost } from "./address";

describe("inClearToAnotherHost", () => {
  it("flags plain HTTP to another machine", () => {
    for (const url of ["http://labels.example.org", "http://10.0.0.5:7450/", "HTTP://[2001:db8::1]:7450", "http://u@example.org/api"]) {
      expect(inClearToAnotherHost(url), url).toBe(true);
    }
  });
  it("passes HTTPS and this machine", () => {
    for (const url of ["https://labels.example.org", "http://127.0.0.1:7450", "http://127.8.9.10", "http://localhost:7450", "http://[::1]:7450", "http://app.localhost", ""]) {
      expect(inClearToAnotherHost(url), url).toBe(false);
    }
  });
});
