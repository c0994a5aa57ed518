// GCS lists names in the byte order of their UTF-8 encoding. JavaScript
// compares strings by UTF-16 code units, which agrees except where a
// character above U+FFFF (a surrogate pair, 0xD800-0xDFFF) meets one in
// U+E000-U+FFFF: UTF-8 puts the former after, UTF-16 before. Listing code
// compares with this function so no name has to be encoded to compare it.

const isSurrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdfff;

/** Negative, zero or positive as `a` sorts before, with or after `b` in UTF-8 byte order. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = isSurrogate(x);
    if (xs === isSurrogate(y)) return x - y;
    return xs ? 1 : -1; // a code point above U+FFFF sorts after every BMP character
  }
  return a.length - b.length;
}

/**
 * The smallest key above every name that starts with `prefix`, when one can
 * be written as a string: the prefix with its last character incremented
 * ("a/" -> "a0"). Undefined when the last character can't be incremented
 * without leaving plain text (a surrogate or U+FFFF).
 */
export function prefixEnd(prefix: string): string | undefined {
  if (prefix === "") return undefined;
  const last = prefix.charCodeAt(prefix.length - 1);
  if (last >= 0xd7ff && last <= 0xdfff) return undefined;
  if (last >= 0xffff) return undefined;
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

/** Whether `key` lies in [start, end) (either bound may be open). */
export function inRange(key: string, start: string | undefined, end: string | undefined): boolean {
  return (start === undefined || compareUtf8(key, start) >= 0) && (end === undefined || compareUtf8(key, end) < 0);
}
