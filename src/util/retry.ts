// Capped exponential backoff with full jitter inside a per-call deadline. One
// loop for every remote service (GCS, Datastore) so their retry behaviour and
// its tests stay the same.
import type { Clock } from "./clock.js";
import type { Logger } from "./log.js";

export interface RetryPolicy {
  /** Total time allowed for one call, retries included. */
  deadlineMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
}

export interface RetryContext {
  clock: Clock;
  log: Logger;
  policy: RetryPolicy;
  random?: () => number;
}

export async function withRetries<T>(ctx: RetryContext, what: string, retryable: (err: unknown) => boolean, op: () => Promise<T>): Promise<T> {
  const { clock, log, policy } = ctx;
  const random = ctx.random ?? Math.random;
  const start = clock.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!retryable(err) || attempt >= policy.maxAttempts) throw err;
      const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
      const delay = Math.round(random() * cap);
      if (clock.now() - start + delay > policy.deadlineMs) throw err;
      log.debug(`${what}: attempt ${attempt} failed (${err instanceof Error ? err.message : String(err)}); retrying in ${delay} ms`);
      await clock.sleep(delay);
    }
  }
}
