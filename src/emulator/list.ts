// objects.list semantics: prefix, delimiter, startOffset/endOffset, paging with
// items and prefixes counted together against maxResults (at most 1000).
import type { BucketTable, StoredObject } from "./object-table.js";

export interface ListQuery {
  prefix?: string;
  delimiter?: string;
  startOffset?: string;
  endOffset?: string;
  pageToken?: string;
  maxResults?: number;
  includeTrailingDelimiter?: boolean;
}

export interface ListResult {
  items: StoredObject[];
  prefixes: string[];
  nextPageToken?: string;
}

export class BadListQuery extends Error {}

/** A page token names the last entry returned: an item, or a prefix whose members are all skipped. */
interface Token {
  kind: "item" | "prefix";
  value: string;
}

const encodeToken = (t: Token): string => Buffer.from(JSON.stringify(t)).toString("base64url");

function decodeToken(s: string): Token {
  try {
    const t = JSON.parse(Buffer.from(s, "base64url").toString()) as Token;
    if ((t.kind === "item" || t.kind === "prefix") && typeof t.value === "string") return t;
  } catch {
    // fall through
  }
  throw new BadListQuery("Invalid pageToken");
}

export function listObjects(table: BucketTable, q: ListQuery): ListResult {
  const prefix = q.prefix ?? "";
  const prefixKey = Buffer.from(prefix);
  const max = Math.min(Math.max(q.maxResults ?? 1000, 1), 1000);
  const objs = table.objects;

  let i = table.lowerBound(prefixKey);
  if (q.startOffset) i = Math.max(i, table.lowerBound(Buffer.from(q.startOffset)));
  if (q.pageToken) {
    const t = decodeToken(q.pageToken);
    const k = Buffer.from(t.value);
    const after = t.kind === "prefix" ? table.endOfPrefix(k) : table.lowerBound(k) + (table.get(t.value) ? 1 : 0);
    i = Math.max(i, after);
  }
  const endKey = q.endOffset ? Buffer.from(q.endOffset) : undefined;

  const items: StoredObject[] = [];
  const prefixes: string[] = [];
  let last: Token | undefined;
  let nextPageToken: string | undefined;

  while (i < objs.length) {
    const o = objs[i]!;
    if (!o.name.startsWith(prefix)) break;
    if (endKey && Buffer.compare(o.key, endKey) >= 0) break;
    if (items.length + prefixes.length >= max) {
      nextPageToken = encodeToken(last!);
      break;
    }
    const cut = q.delimiter ? o.name.indexOf(q.delimiter, prefix.length) : -1;
    if (cut >= 0) {
      const p = o.name.slice(0, cut + q.delimiter!.length);
      prefixes.push(p);
      if (q.includeTrailingDelimiter && o.name === p) items.push(o);
      last = { kind: "prefix", value: p };
      i = table.endOfPrefix(Buffer.from(p), i);
      continue;
    }
    items.push(o);
    last = { kind: "item", value: o.name };
    i++;
  }
  return nextPageToken === undefined ? { items, prefixes } : { items, prefixes, nextPageToken };
}
