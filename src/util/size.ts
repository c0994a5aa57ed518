const UNITS: Record<string, number> = {
  "": 1, b: 1,
  k: 1e3, kb: 1e3, kib: 2 ** 10,
  m: 1e6, mb: 1e6, mib: 2 ** 20,
  g: 1e9, gb: 1e9, gib: 2 ** 30,
  t: 1e12, tb: 1e12, tib: 2 ** 40,
};

/**
 * Parses a human size: "512MiB", "1.5G", "4096", "64 kb". Single-letter
 * suffixes (K, M, G) are binary, as in `ls -h`; "KB"/"MB" are decimal and
 * "KiB"/"MiB" binary, as written. Throws RangeError on anything else.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) throw new RangeError(`not a size: "${text}" (try 512MiB, 2G or a number of bytes)`);
  let unit = m[2]!.toLowerCase();
  if (unit.length === 1 && unit !== "b") unit += "ib";
  const factor = UNITS[unit];
  if (factor === undefined) throw new RangeError(`unknown size unit "${m[2]}" in "${text}"`);
  const bytes = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`size too large: "${text}"`);
  return bytes;
}

export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
