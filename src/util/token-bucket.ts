// A token bucket for --limit-bytes-per-sec and --limit-ops-per-sec. Tokens
// accrue at `rate` per second up to `burst`. A taker waits until the bucket
// holds what it needs (or is full, if it needs more than the burst), then
// takes it all, possibly going into debt: a request bigger than the burst
// still goes, and the ones after it pay for it. So by time t at most
// burst + rate × t + (the last request's excess over the burst) has been
// taken. Takers are served in arrival order, so none starves.
import type { Clock } from "./clock.js";

export class TokenBucket {
  private tokens: number;
  private at: number;
  /** Ends when the takers queued before a new one have gone. */
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly rate: number, readonly burst: number, private readonly clock: Clock) {
    if (!(rate > 0) || !(burst > 0)) throw new RangeError("rate and burst must be positive");
    this.tokens = burst;
    this.at = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
  }

  /** Resolves, with the milliseconds waited, once `n` tokens are taken (in arrival order). */
  take(n: number): Promise<number> {
    const start = this.clock.now();
    const turn = this.tail.then(async () => {
      for (;;) {
        this.refill();
        // A taker waits for what it needs, or a full bucket when it needs more than the burst.
        const need = Math.min(n, this.burst);
        if (this.tokens >= need) break;
        await this.clock.sleep(Math.max(1, Math.ceil(((need - this.tokens) / this.rate) * 1000)));
      }
      this.tokens -= n;
    });
    this.tail = turn;
    return turn.then(() => this.clock.now() - start);
  }
}
