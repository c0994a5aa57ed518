// How far ahead to fetch, adjusted by what prefetching has been worth. The
// cache counts prefetched bytes that were later read ("used") and those
// evicted unread ("wasted"); every so often the policy looks at what changed
// since its last look: mostly wasted halves the depth (down to nothing, then
// probes again after a pause), mostly used doubles it up to the maximum.
import type { PrefetchStats } from "../cache/block-cache.js";
import type { Clock } from "../util/clock.js";

export interface PrefetchPolicyOptions {
  initialDepth: number;
  maxDepth: number;
  /** Re-evaluate after this many prefetched bytes have been judged (used or wasted). */
  judgeEveryBytes: number;
  /** With depth at zero, try again after this long. */
  probeAfterMs: number;
}

export class PrefetchPolicy {
  private depthNow: number;
  private seen = { used: 0, wasted: 0 };
  private offSince = 0;

  constructor(private readonly stats: PrefetchStats, private readonly clock: Clock, private readonly opts: PrefetchPolicyOptions) {
    this.depthNow = opts.initialDepth;
  }

  /** Files (or blocks) to fetch ahead now. */
  depth(): number {
    const used = this.stats.used - this.seen.used;
    const wasted = this.stats.wasted - this.seen.wasted;
    if (used + wasted >= this.opts.judgeEveryBytes) {
      this.seen = { used: this.stats.used, wasted: this.stats.wasted };
      if (wasted > used) {
        this.depthNow = Math.floor(this.depthNow / 2);
        if (this.depthNow === 0) this.offSince = this.clock.now();
      } else {
        this.depthNow = Math.min(this.opts.maxDepth, Math.max(1, this.depthNow * 2));
      }
    }
    if (this.depthNow === 0 && this.clock.now() - this.offSince >= this.opts.probeAfterMs) this.depthNow = 1;
    return this.depthNow;
  }
}

/**
 * Notices reading in order: per group (a directory, an open file), whether
 * each new position follows the last one closely. `observe` returns how many
 * in-order steps in a row this makes (0 = not in order).
 */
export class SequenceDetector {
  private readonly groups = new Map<string, { last: number; streak: number }>();

  constructor(private readonly maxGap: number, private readonly maxGroups = 256) {}

  observe(group: string, position: number): number {
    const g = this.groups.get(group);
    const inOrder = g !== undefined && position > g.last && position - g.last <= this.maxGap;
    const streak = inOrder ? g.streak + 1 : 0;
    this.groups.delete(group); // re-insert: most recent last, oldest evicted first
    this.groups.set(group, { last: position, streak });
    if (this.groups.size > this.maxGroups) this.groups.delete(this.groups.keys().next().value!);
    return streak;
  }
}
