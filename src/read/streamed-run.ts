// A run of pages from one streamed ranged request, each page handed out as
// soon as its bytes are in rather than when the whole request is: a
// sequential reader starts on the first page of an 8 MiB read-ahead request
// once its 256 KiB are in (~4 ms after the first byte at 64 MiB/s per
// stream, not ~125 ms), and keeps close behind the bytes rather than a whole
// request behind. A failed attempt is retried from the start of the range,
// as a whole request is: pages already handed out are kept (the same
// generation's bytes) and their bytes skipped.
import { Chunks, appendView, partsOf, type Bytes } from "../storage/bytes.js";
import { TransientError } from "../storage/errors.js";
import type { ByteRange, RestartableStreamer } from "../storage/object-store.js";

/** A run's pages, each settling as it arrives, and the whole run once all have (for the disk tier). */
export interface RunPages {
  pages: Promise<Bytes>[];
  all: Promise<Bytes>;
}

/**
 * Streams `range` of one object generation as pages of `pageSize` (the last
 * one shorter at the object's end); `failure` turns a failure into what the
 * pages not yet handed out reject with.
 */
export function streamedRun(streamer: RestartableStreamer, t: { name: string; generation: string }, range: ByteRange, pageSize: number, failure: (err: unknown) => unknown): RunPages {
  const { start, end } = range;
  const n = Math.ceil((end - start) / pageSize);
  const waiting = Array.from({ length: n }, () => deferred<Bytes>());
  const done: Bytes[] = [];
  let cur: Buffer[] = [];
  let curBytes = 0;
  let skip = 0;
  const lengthOf = (j: number): number => Math.min(end, start + (j + 1) * pageSize) - (start + j * pageSize);
  const sink = (chunk: Buffer): void => {
    let c = chunk;
    if (skip > 0) {
      const k = Math.min(skip, c.length);
      skip -= k;
      c = c.subarray(k);
    }
    while (c.length > 0 && done.length < n) {
      const take = Math.min(c.length, lengthOf(done.length) - curBytes);
      appendView(cur, c.subarray(0, take));
      curBytes += take;
      c = c.subarray(take);
      if (curBytes === lengthOf(done.length)) {
        const page: Bytes = cur.length === 1 ? cur[0]! : new Chunks(cur);
        waiting[done.length]!.resolve(page);
        done.push(page);
        cur = [];
        curBytes = 0;
      }
    }
  };
  // Before a retried attempt: it starts at the range's first byte again.
  const restart = async (): Promise<void> => {
    skip = done.reduce((sum, p) => sum + p.length, 0);
    cur = [];
    curBytes = 0;
  };
  const all = streamer.stream(t.name, t.generation, range, sink, restart, end - start).then(() => {
    if (done.length < n) throw new TransientError(`read ${t.name}: the stream ended ${n - done.length} pages short`);
    return new Chunks(done.flatMap((p) => partsOf(p)));
  }).catch((err: unknown) => {
    const e = failure(err);
    for (const w of waiting) w.reject(e);
    throw e;
  });
  all.catch(() => undefined); // the pages carry the failure to their readers
  return { pages: waiting.map((w) => w.promise), all };
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
