// Garbage from moving object bytes. Every response arrives as fresh Buffers
// (socket chunks, then the block they are copied into), which V8 counts as
// external memory. Left to its defaults V8 runs a full GC every few tens of
// MB of them (26 per 300 MB read, a quarter of the daemon's CPU); counting
// them in the global limit instead (bin/som) lets garbage pile up well past
// --cache-size. So the daemon collects on its own schedule: one full GC per
// 16 MiB received — ~60 per GB, each a few ms on a heap this small.
import { runInNewContext } from "node:vm";

let gc: (() => void) | undefined;
try {
  // Available when the process was started with --expose-gc (bin/som sets it).
  const fn: unknown = runInNewContext("typeof gc === 'function' ? gc : undefined");
  if (typeof fn === "function") gc = fn as () => void;
} catch {
  gc = undefined;
}

const EVERY = 16 * 2 ** 20;

/**
 * Dead object bytes that may wait for the next collection: what has arrived
 * since the last one, once as socket chunks and once as the blocks they were
 * copied into (the evicted ones they replace).
 */
export const GARBAGE_ALLOWANCE = 2 * EVERY;
let received = 0;
let scheduled = false;

/** Notes bytes received into fresh Buffers; collects garbage once enough has come in. */
export function noteReceived(bytes: number): void {
  if (!gc) return;
  received += bytes;
  if (received < EVERY || scheduled) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    received = 0;
    gc?.();
  });
}
