// The one retry policy for every remote call som makes — GCS listings,
// metadata and reads, Datastore queries and commits, som get's downloads,
// som upload's uploads — and the one loop that applies it.
//
// A call that fails in a way worth retrying is tried again after a delay
// drawn at random from [0, cap] (full jitter), the cap doubling from 100 ms
// to 4 s, until it succeeds or 30 s have passed since it started or last
// made progress. Progress (bytes moving, a page arriving) restarts the
// clock, so a long transfer that keeps moving is never cut off, while a
// call that keeps failing gives up after 30 s. A mount's FUSE operations
// answer within that deadline plus a margin (app/mount-app.ts).
import type { Clock } from "./clock.js";
import type { Logger } from "./log.js";

export interface RetryPolicy {
  /** A call gives up once this long has passed since it started or last made progress. */
  deadlineMs: number;
  /** Cap of the first delay; doubles per failure up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
}

/** The policy (tests may pass faster ones). */
export const retryPolicy: RetryPolicy = { deadlineMs: 30_000, initialDelayMs: 100, maxDelayMs: 4_000 };

export interface RetryContext {
  clock: Clock;
  log: Logger;
  policy?: RetryPolicy;
  random?: () => number;
  /** Called after each failed attempt that will be retried. */
  onRetry?: (err: unknown) => void;
}

/**
 * Runs `op` until it succeeds, throws something `retryable` says no to, or
 * the deadline passes (the last error is thrown). `op` gets a function to
 * call whenever it makes progress.
 */
export async function withRetries<T>(ctx: RetryContext, what: string, retryable: (err: unknown) => boolean, op: (progress: () => void) => Promise<T>): Promise<T> {
  const { clock, log } = ctx;
  const policy = ctx.policy ?? retryPolicy;
  const random = ctx.random ?? Math.random;
  let since = clock.now();
  const progress = (): void => {
    since = clock.now();
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(progress);
    } catch (err) {
      if (!retryable(err)) throw err;
      const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
      const delay = Math.round(random() * cap);
      if (clock.now() - since + delay > policy.deadlineMs) throw err;
      log.debug(`${what}: attempt ${attempt} failed (${err instanceof Error ? err.message : String(err)}); retrying in ${delay} ms`);
      ctx.onRetry?.(err);
      await clock.sleep(delay);
    }
  }
}
