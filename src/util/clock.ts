/** Injected time source so TTLs, backoff and deadlines are testable exactly. */
export interface Clock {
  now(): number; // milliseconds, monotonic enough for TTLs
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A clock that only moves when told to; sleeps resolve as time passes. */
export class ManualClock implements Clock {
  // Not 0: caches such as lru-cache read a start time of 0 as "never set".
  private t = 1_000_000;
  private sleepers: { until: number; resolve: () => void }[] = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.sleepers.push({ until: this.t + ms, resolve });
    });
  }

  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.until <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.until > this.t);
    for (const s of due) s.resolve();
  }
}
