// Where to cut a key range so that the pieces hold about the same number of
// names. Keys are read as numbers in [0, 1): each character a digit of a base
// made of the characters the listing has shown so far (hex digits and "-" for
// UUIDs, digits and "." for DICOM UIDs), with "end of key" as the digit below
// all of them so that "a" < "a0" still holds. The first page of a range says
// how much of that number line 1,000 names took; the rest of the range is
// then cut into as many pieces as the same density would fill pages.
//
// Nothing here affects what a listing returns, only how fast: the pieces are
// contiguous, so any cut gives every name exactly once. A poor guess (a
// cluster the first page did not reveal) costs one more round of splitting
// inside the piece that turned out big.
import { compareUtf8 } from "./key-order.js";

export interface Alphabet {
  /** Code points seen, ascending. */
  chars: number[];
  /** Digits that fit a double's 52 bits of mantissa. */
  digits: number;
}

/** The characters used in `keys` after their first `skip` characters (the listing prefix). */
export function learnAlphabet(keys: Iterable<string>, skip: number): Alphabet {
  const seen = new Set<number>();
  for (const k of keys) for (let i = skip; i < k.length; i++) seen.add(k.charCodeAt(i));
  const chars = [...seen].sort((a, b) => a - b);
  if (chars.length === 0) chars.push(0x30);
  const digits = Math.max(2, Math.floor(52 / Math.log2(chars.length + 1)));
  return { chars, digits };
}

/** Digit of a character: 1..B for known characters, a half-step between them for others. */
function digitOf(c: number, a: Alphabet): number {
  let lo = 0;
  let hi = a.chars.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a.chars[mid]! < c) lo = mid + 1;
    else hi = mid;
  }
  return a.chars[lo] === c ? lo + 1 : lo + 0.5;
}

/** The key's place on [0, 1), reading characters from `from` on. */
export function keyFraction(key: string, from: number, a: Alphabet): number {
  const base = a.chars.length + 1;
  let f = 0;
  let scale = 1;
  for (let i = from; i < key.length && i < from + a.digits; i++) {
    scale /= base;
    f += digitOf(key.charCodeAt(i), a) * scale;
  }
  return f;
}

/** A key at place `f` on [0, 1), written with at most `len` characters after `stem`. */
function keyAt(f: number, stem: string, a: Alphabet, len: number): string {
  const base = a.chars.length + 1;
  let out = stem;
  let rest = f;
  for (let i = 0; i < len; i++) {
    rest *= base;
    const d = Math.floor(rest);
    rest -= d;
    if (d === 0) break; // "end of key" sorts first: the key simply stops here
    out += String.fromCharCode(a.chars[Math.min(d, a.chars.length) - 1]!);
  }
  return out;
}

function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

export interface SplitPlan {
  /** Keys strictly inside (lo, hi), ascending: pieces [lo, s1), [s1, s2), ... [sk, hi). */
  splits: string[];
  /** Pages the rest of the range was estimated to hold. */
  estimatedPages: number;
}

/**
 * Cuts [lo, hi) — hi undefined means the end of the listing prefix — given
 * that the range's first page held `pageEntries` names from `first` to lo.
 * At most `maxPieces` pieces; one (no split) when the rest looks smaller
 * than a page.
 */
export function planSplit(opts: {
  prefix: string;
  first: string;
  lo: string;
  hi: string | undefined;
  sample: Iterable<string>;
  pageEntries: number;
  pageSize: number;
  maxPieces: number;
  /**
   * Most pieces for an open-ended rest (hi undefined). Its estimate can't
   * tell a uniform million UUIDs from a few sequential names ("f0000" ..
   * "f1199" look the same on a first page), so it fans out less; its pieces
   * are bounded and estimate well when they split in turn.
   */
  maxTailPieces: number;
}): SplitPlan {
  const { prefix, first, lo, hi } = opts;
  // Work below the characters every key of the range shares.
  const shared = hi === undefined ? prefix.length : commonPrefixLength(lo, hi);
  const stemLength = Math.min(shared, commonPrefixLength(first, lo));
  const stem = lo.slice(0, stemLength);
  const a = learnAlphabet([...opts.sample, lo, ...(hi ? [hi] : [])], stemLength);
  const fFirst = keyFraction(first, stemLength, a);
  const fLo = keyFraction(lo, stemLength, a);
  const fHi = hi === undefined ? 1 : keyFraction(hi, stemLength, a);
  const covered = fLo - fFirst;
  const remaining = Math.max(0, fHi - fLo);
  const perPage = Math.max(1, opts.pageEntries) / opts.pageSize;
  const estimatedPages = covered > 0 ? (remaining / covered) * perPage : opts.maxPieces;
  const cap = hi === undefined ? Math.min(opts.maxPieces, opts.maxTailPieces) : opts.maxPieces;
  // Pieces aimed at 80% of a page: one that overflows costs two more requests.
  const pieces = estimatedPages <= 0.8 ? 1 : Math.max(2, Math.min(cap, Math.ceil(estimatedPages / 0.8)));
  const base = a.chars.length + 1;
  // Enough characters to tell the cuts apart at this spacing, and a couple more.
  const len = Math.min(a.digits, Math.max(1, Math.ceil(Math.log(pieces / Math.max(remaining, 1e-15)) / Math.log(base)) + 2));
  const splits: string[] = [];
  let prev = lo;
  for (let i = 1; i < pieces; i++) {
    const s = keyAt(fLo + (remaining * i) / pieces, stem, a, len);
    if (compareUtf8(s, prev) <= 0) continue;
    if (hi !== undefined && compareUtf8(s, hi) >= 0) break;
    if (!s.startsWith(prefix)) continue;
    splits.push(s);
    prev = s;
  }
  return { splits, estimatedPages };
}
