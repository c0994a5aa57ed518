// Lists a key range in parallel, for any distribution of names, with the
// same result as paging through it one page after another.
//
// A range is asked for its first page. If that page was the last, the range
// is done. Otherwise the rest of the range — from just after the page's last
// key to the range's end — is cut into pieces (key-space.ts decides where,
// from what the page showed), and each piece is a range of its own: asked
// for its first page, split again if that was not its last. Big ranges thus
// fan out in a few rounds of requests until every piece fits a page, however
// the names are spread (UUIDs, DICOM UIDs, clusters, Unicode); a piece that
// happens to be empty costs one request.
//
// Pages arrive in any order; they are handed on in key order (a piece's page
// before its own pieces, pieces left to right), so a consumer can serve the
// start of a big listing while the rest is still coming. Two pages can name
// the same entry only at a seam: the object a piece restarts from (its
// start is inclusive) and a prefix whose objects straddle a cut. Both show
// up as a page's first entry equal to the previous page's last, and are
// dropped there.
import type { ListPage, ObjectInfo, ObjectStore } from "../storage/object-store.js";
import { PriorityLimiter, type Priority } from "../util/limiter.js";
import { compareUtf8, prefixEnd } from "./key-order.js";
import { planSplit } from "./key-space.js";

/** See planSplit's maxTailPieces. */
const TAIL_PIECES = 16;

export interface RangeQuery {
  prefix: string;
  delimiter?: string;
  /** Inclusive. */
  startOffset?: string;
  /** Exclusive. */
  endOffset?: string;
}

export interface ParallelListOptions {
  limiter: PriorityLimiter;
  /** Requests waiting for this listing are ordered by tier (0 = someone waits), then seq. */
  tier: number;
  seq: number;
  /** Most pieces one range is cut into (16 at most for the open-ended rest of a listing). */
  maxPieces: number;
  /** Entries per full page: GCS's 1,000, or fewer (asked for with maxResults). */
  pageSize: number;
  /** Called after each page with the entries received so far. */
  onProgress?: (entries: number, requests: number) => void;
}

/** The keys a page spans, for ordering and seams. */
interface PageKeys {
  first: { key: string; prefix: boolean } | undefined;
  last: { key: string; prefix: boolean } | undefined;
  count: number;
}

function pageKeys(page: ListPage): PageKeys {
  const o = page.objects;
  const p = page.prefixes;
  const firstO = o[0]?.name;
  const firstP = p[0];
  const lastO = o[o.length - 1]?.name;
  const lastP = p[p.length - 1];
  const pick = (a: string | undefined, b: string | undefined, wantMax: boolean): { key: string; prefix: boolean } | undefined => {
    if (a === undefined) return b === undefined ? undefined : { key: b, prefix: true };
    if (b === undefined) return { key: a, prefix: false };
    const aFirst = compareUtf8(a, b) < 0;
    return aFirst !== wantMax ? { key: a, prefix: false } : { key: b, prefix: true };
  };
  return { first: pick(firstO, firstP, false), last: pick(lastO, lastP, true), count: o.length + p.length };
}

interface RangeResult<C> {
  chunk: C;
  keys: PageKeys;
  pieces: RangeNode<C>[];
}

interface RangeNode<C> {
  start?: string;
  end?: string;
  result: Promise<RangeResult<C>>;
}

/**
 * Lists `q` with pages fetched in parallel, handing each page (after
 * `transform`, applied as it arrives) to `deliver` in key order. `dropFirst`
 * says the page's first entry (in key order) was already delivered.
 * Rejects with the first request that fails (after the store's retries).
 */
export async function listOrdered<C>(
  store: ObjectStore,
  q: RangeQuery,
  opts: ParallelListOptions,
  transform: (page: ListPage) => C,
  deliver: (chunk: C, dropFirst: boolean) => void,
): Promise<void> {
  // A piece restarts at the previous page's last object, inclusive; a page
  // of two entries or more always gets past it.
  if (opts.pageSize < 2) throw new RangeError("pageSize must be at least 2");
  let failed = false;
  let entries = 0;
  let requests = 0;

  const fetchRange = (start: string | undefined, end: string | undefined): RangeNode<C> => {
    const priority: Priority = { tier: opts.tier, seq: opts.seq, key: start ?? q.prefix };
    const result = opts.limiter.run(priority, async () => {
      if (failed) throw new Error("listing abandoned");
      requests++;
      return store.list({
        prefix: q.prefix,
        ...(q.delimiter ? { delimiter: q.delimiter } : {}),
        ...(start !== undefined ? { startOffset: start } : {}),
        ...(end !== undefined ? { endOffset: end } : {}),
        ...(opts.pageSize < 1000 ? { maxResults: opts.pageSize } : {}),
      });
    }).then((page): RangeResult<C> => {
      const keys = pageKeys(page);
      entries += keys.count;
      opts.onProgress?.(entries, requests);
      const pieces: RangeNode<C>[] = [];
      if (page.nextPageToken && keys.last) {
        // The rest starts just after the last key: past every name under a
        // prefix, or at an object itself (inclusive; dropped as a seam).
        const last = keys.last;
        const rest = (last.prefix ? prefixEnd(last.key) : undefined) ?? last.key;
        const plan = planSplit({
          prefix: q.prefix, first: keys.first!.key, lo: rest, hi: end,
          sample: [...page.objects.map((o) => o.name), ...page.prefixes],
          pageEntries: keys.count, pageSize: opts.pageSize, maxPieces: opts.maxPieces, maxTailPieces: TAIL_PIECES,
        });
        const bounds = [rest, ...plan.splits];
        for (let i = 0; i < bounds.length; i++) pieces.push(fetchRange(bounds[i], i + 1 < bounds.length ? bounds[i + 1] : end));
      }
      return { chunk: transform(page), keys, pieces };
    });
    result.catch(() => {
      failed = true;
    });
    return { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}), result };
  };

  let lastDelivered: { key: string; prefix: boolean } | undefined;
  const drain = async (node: RangeNode<C>): Promise<void> => {
    const r = await node.result;
    if (r.keys.count > 0) {
      const f = r.keys.first!;
      const dropFirst = lastDelivered !== undefined && lastDelivered.key === f.key && lastDelivered.prefix === f.prefix;
      deliver(r.chunk, dropFirst);
      lastDelivered = r.keys.last;
    }
    for (const piece of r.pieces) await drain(piece);
  };
  try {
    await drain(fetchRange(q.startOffset, q.endOffset));
  } catch (err) {
    failed = true;
    throw err;
  }
}

export interface Listing {
  objects: ObjectInfo[];
  prefixes: string[];
}

/** A whole listing, fetched in parallel: exactly what paging through it gives, in the same order. */
export async function listEverything(store: ObjectStore, q: RangeQuery, concurrency: number, maxPieces = 64): Promise<Listing> {
  const out: Listing = { objects: [], prefixes: [] };
  await listOrdered(store, q, { limiter: new PriorityLimiter(concurrency, compareUtf8), tier: 0, seq: 0, maxPieces, pageSize: 1000 }, (page) => page, (page, dropFirst) => {
    // The dropped entry is the page's first in key order: an object, or a prefix.
    let skipObject = false;
    let skipPrefix = false;
    if (dropFirst) {
      const o = page.objects[0]?.name;
      const p = page.prefixes[0];
      if (p === undefined || (o !== undefined && compareUtf8(o, p) < 0)) skipObject = true;
      else skipPrefix = true;
    }
    for (let i = skipObject ? 1 : 0; i < page.objects.length; i++) out.objects.push(page.objects[i]!);
    for (let i = skipPrefix ? 1 : 0; i < page.prefixes.length; i++) out.prefixes.push(page.prefixes[i]!);
  });
  return out;
}
