// The one retry policy: transient failures are retried with full jitter
// (delays drawn from [0, cap], the cap doubling from 100 ms to 4 s) until 30 s
// have passed without progress; there is no cap on attempts; progress
// restarts the deadline; anything not retryable is thrown at once.
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";
import { retryPolicy, withRetries } from "../../src/util/retry.js";

class Flaky extends Error {}

/** Runs withRetries to the end on a manual clock, advancing it through every sleep. */
async function drive<T>(clock: ManualClock, p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  let settled: { value?: T; error?: unknown } | undefined;
  p.then((value) => (settled = { value }), (error: unknown) => (settled = { error }));
  while (!settled) {
    await new Promise((r) => setImmediate(r));
    clock.advance(10);
  }
  return settled;
}

describe("withRetries (the one retry policy)", () => {
  it("is 30 s, 100 ms doubling to 4 s", () => {
    expect(retryPolicy).toEqual({ deadlineMs: 30_000, initialDelayMs: 100, maxDelayMs: 4_000 });
  });

  it("keeps trying until 30 s have passed, with no cap on attempts", async () => {
    const clock = new ManualClock();
    let attempts = 0;
    const started = clock.now();
    const r = await drive(clock, withRetries({ clock, log: new MemoryLogger(), random: () => 1 }, "op", (e) => e instanceof Flaky, async () => {
      attempts++;
      throw new Flaky("503");
    }));
    expect(r.error).toBeInstanceOf(Flaky);
    // Delays 100, 200, 400, ... 4,000, 4,000 ... (random = 1: the cap) while they fit in 30 s.
    expect(attempts).toBeGreaterThan(10);
    expect(clock.now() - started).toBeLessThanOrEqual(30_000 + 20);
    expect(clock.now() - started).toBeGreaterThan(26_000);
  });

  it("restarts the deadline whenever the call makes progress", async () => {
    const clock = new ManualClock();
    let attempts = 0;
    const r = await drive(clock, withRetries({ clock, log: new MemoryLogger(), random: () => 1 }, "op", (e) => e instanceof Flaky, async (progress) => {
      attempts++;
      if (attempts < 20) {
        progress(); // bytes moved before it failed
        throw new Flaky("cut short");
      }
      return "done";
    }));
    expect(r.value).toBe("done"); // 20 attempts, far more than 30 s in all, each failure after progress
    expect(attempts).toBe(20);
  });

  it("throws what is not worth retrying at once", async () => {
    const clock = new ManualClock();
    let attempts = 0;
    const r = await drive(clock, withRetries({ clock, log: new MemoryLogger() }, "op", (e) => e instanceof Flaky, async () => {
      attempts++;
      throw new Error("404");
    }));
    expect((r.error as Error).message).toBe("404");
    expect(attempts).toBe(1);
  });
});
