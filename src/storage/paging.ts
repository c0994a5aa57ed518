// Whole listings from paged ones. A big directory comes back 1,000 names per
// request, each page waiting for the one before (the page token); listFast
// cuts the rest of the key range into pieces after the first page and lists
// them at the same time with startOffset/endOffset.
import type { ListOptions, ObjectInfo, ObjectStore } from "./object-store.js";

export interface Listing {
  objects: ObjectInfo[];
  prefixes: string[];
}

/** Follows nextPageToken to the end. */
export async function listAll(store: ObjectStore, opts: ListOptions): Promise<Listing> {
  const objects: ObjectInfo[] = [];
  const prefixes: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.list(pageToken ? { ...opts, pageToken } : opts);
    objects.push(...page.objects);
    prefixes.push(...page.prefixes);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return { objects, prefixes };
}

/**
 * The same result as listAll, faster for big listings: when the first page
 * isn't the last, the names after it are split into up to `ranges` key
 * ranges listed in parallel. The split is on the first character where the
 * first page's names differ (hex digits of UUIDs, the digits of DICOM UIDs),
 * spread over the characters above the last name seen; a range that holds
 * most of the names still pages, so a poor split is only as slow as listAll.
 */
export async function listFast(store: ObjectStore, opts: ListOptions, ranges = 8): Promise<Listing> {
  if (opts.pageToken || opts.startOffset || opts.endOffset) return listAll(store, opts);
  const first = await store.list(opts);
  if (!first.nextPageToken) return { objects: first.objects, prefixes: first.prefixes };
  const keys = [...first.objects.map((o) => o.name), ...first.prefixes].sort(byteOrder);
  const last = keys[keys.length - 1]!;
  const splits = splitPoints(keys[0]!, last, ranges);
  // Contiguous ranges [last, s1), [s1, s2), ... [sN, end): whatever the split
  // points, together they hold every name after the first page.
  const bounds = [last, ...splits];
  const rest = await Promise.all(bounds.map((start, i) =>
    listAll(store, { ...opts, startOffset: start, ...(bounds[i + 1] ? { endOffset: bounds[i + 1]! } : {}) })));
  const objects = [...first.objects];
  const prefixes = [...first.prefixes];
  const seenObject = new Set(objects.map((o) => o.name));
  const seenPrefix = new Set(prefixes);
  for (const r of rest) {
    // `last` is listed again, and a prefix whose objects straddle a split point is reported by both ranges.
    for (const o of r.objects) if (!seenObject.has(o.name)) (seenObject.add(o.name), objects.push(o));
    for (const p of r.prefixes) if (!seenPrefix.has(p)) (seenPrefix.add(p), prefixes.push(p));
  }
  return { objects, prefixes };
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Up to n - 1 start keys above `last`: the common prefix of the first page's
 * first and last names plus one character, spaced over the printable ASCII
 * characters above the one `last` has there.
 */
export function splitPoints(firstKey: string, last: string, n: number): string[] {
  let p = 0;
  while (p < firstKey.length && p < last.length && firstKey[p] === last[p]) p++;
  const from = (last.charCodeAt(p) || 0x20) + 1;
  const to = 0x7f; // names above plain ASCII end up in the last range
  const stem = last.slice(0, p);
  const count = Math.min(n - 1, to - from);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(stem + String.fromCharCode(from + Math.floor(((to - from) * i) / count)));
  return out;
}
