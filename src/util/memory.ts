// Garbage from moving object bytes. Every response arrives in fresh Buffers
// (one per page of its body, util/http1/body-pages.ts; listings as socket
// chunks), which V8 counts as external memory. Left to its defaults V8 runs
// a full GC every few tens of MB of them (26 per 300 MB read, a quarter of
// the daemon's CPU); counting them in the global limit instead (bin/som)
// lets garbage pile up well past --cache-size. So the daemon collects on its
// own schedule: one collection per 16 MiB received — ~60 per GB, mostly
// minor ones (see noteReceived).
import { runInNewContext } from "node:vm";

let gc: ((opts?: { type: "minor" | "major" }) => void) | undefined;
try {
  // Available when the process was started with --expose-gc (bin/som sets it).
  const fn: unknown = runInNewContext("typeof gc === 'function' ? gc : undefined");
  if (typeof fn === "function") gc = fn as (opts?: { type: "minor" | "major" }) => void;
} catch {
  gc = undefined;
}

const EVERY = 16 * 2 ** 20;

/**
 * Dead object bytes that may wait for the next collection: what the cache
 * dropped since the last full one (EVERY at most), and as much again for
 * what arrived since the last one and died young (listing bodies, responses
 * that failed or were not kept).
 */
export const GARBAGE_ALLOWANCE = 2 * EVERY;
let received = 0;
let evicted = 0;
let scheduled = false;
/**
 * Most collections are minor: the Buffers that arrived since the last one
 * are young, and a scavenge frees them (and their memory) at a fraction of
 * a full mark-compact's cost. But cached bytes live long enough to be
 * promoted, so what the cache drops is old-generation garbage only a full
 * collection frees: one runs once EVERY bytes have been dropped since the
 * last (noteEvicted), keeping that garbage within the allowance too.
 */
export function noteReceived(bytes: number): void {
  if (!gc) return;
  received += bytes;
  if (received < EVERY || scheduled) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    received = 0;
    const major = evicted >= EVERY;
    if (major) evicted = 0;
    gc?.({ type: major ? "major" : "minor" });
  });
}

/** Notes cached bytes dropped (old-generation garbage from now on). */
export function noteEvicted(bytes: number): void {
  evicted += bytes;
}
