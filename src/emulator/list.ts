// objects.list semantics: prefix, delimiter, startOffset/endOffset, paging with
// items and prefixes counted together against maxResults (at most 1000).
import { compareUtf8 } from "../listing/key-order.js";
import type { ObjectTable, StoredObject } from "./object-table.js";

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

/**
 * One page of objects.list. Every step seeks (a binary search, or arithmetic
 * in a synthetic table): a page token or startOffset goes straight to its
 * position, and a prefix found with a delimiter is skipped past in one jump,
 * so a page costs the same at the millionth prefix as at the first.
 */
export function listObjects(table: ObjectTable, q: ListQuery): ListResult {
  const prefix = q.prefix ?? "";
  const max = Math.min(Math.max(q.maxResults ?? 1000, 1), 1000);

  let i = table.lowerBound(prefix);
  if (q.startOffset) i = Math.max(i, table.lowerBound(q.startOffset));
  if (q.pageToken) {
    const t = decodeToken(q.pageToken);
    const after = t.kind === "prefix" ? table.endOfPrefix(t.value) : table.lowerBound(t.value) + (table.get(t.value) ? 1 : 0);
    i = Math.max(i, after);
  }
  const endKey = q.endOffset || undefined;

  const items: StoredObject[] = [];
  const prefixes: string[] = [];
  let last: Token | undefined;
  let nextPageToken: string | undefined;

  while (i < table.size) {
    const name = table.nameAt(i);
    if (!name.startsWith(prefix)) break;
    if (endKey !== undefined && compareUtf8(name, endKey) >= 0) break;
    if (items.length + prefixes.length >= max) {
      nextPageToken = encodeToken(last!);
      break;
    }
    const cut = q.delimiter ? name.indexOf(q.delimiter, prefix.length) : -1;
    if (cut >= 0) {
      const p = name.slice(0, cut + q.delimiter!.length);
      prefixes.push(p);
      if (q.includeTrailingDelimiter && name === p) items.push(table.at(i));
      last = { kind: "prefix", value: p };
      i = table.endOfPrefix(p, i);
      continue;
    }
    items.push(table.at(i));
    last = { kind: "item", value: name };
    i++;
  }
  return nextPageToken === undefined ? { items, prefixes } : { items, prefixes, nextPageToken };
}
