// Listings kept across a remount, beside the disk tier (<cache-dir>/som-cache-v1/listings.json).
// A remount's disk tier answers every read of a series it holds, but each
// directory still had to be listed again first: for cp -r of a series just
// re-read, one round trip to Cloud Storage before the first byte (~40 ms at
// 30 ms per request, a fifth of the copy). A clean shutdown writes the fresh
// listings here with when each was fetched; the next daemon for the same
// bucket and endpoint takes on those still within its --metadata-ttl of
// their fetch, so a listing is trusted no longer after it was fetched than
// within one daemon (ListingCache.restore). The file is the user's own
// directory's, but is read as untrusted: every field is checked, names are
// checked again as if listed, and a file that is not right is ignored whole.
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import type { PackedEntry } from "./entry-chunk.js";
import type { SavedListing } from "./listing-cache.js";

const FORMAT = "som-listings";
const VERSION = 1;

/** Whose listings they are: a file saved for another bucket or endpoint is not taken. */
export interface ListingSource {
  endpoint: string;
  bucket: string;
}

/** A file's entry: [name, size, mtime ms, generation, CRC32C base64 or null]. */
type SavedFile = [string, number, number, string, string | null];

interface SavedDir {
  prefix: string;
  fetchedAt: number;
  dirs: string[];
  files: SavedFile[];
}

interface SnapshotFile {
  format: string;
  version: number;
  endpoint: string;
  bucket: string;
  listings: SavedDir[];
}

/** Writes `listings` (their ages as of `now`, wall-clock ms) to `file`, atomically. */
export async function saveListings(file: string, source: ListingSource, listings: readonly SavedListing[], now = Date.now()): Promise<void> {
  const body: SnapshotFile = {
    format: FORMAT, version: VERSION, endpoint: source.endpoint, bucket: source.bucket,
    listings: listings.map((l) => ({
      prefix: l.prefix,
      fetchedAt: Math.round(now - l.ageMs),
      dirs: l.entries.filter((e) => e.dir).map((e) => e.name),
      files: l.entries.filter((e) => !e.dir).map((e): SavedFile => [e.name, e.size, e.mtimeMs, e.generation ?? "0", e.crc32c ?? null]),
    })),
  };
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temp, JSON.stringify(body));
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * The listings saved in `file` for `source`, with their ages as of `now`:
 * none when there is no file; throws (saying why) when it is not one this
 * version wrote for this source, or any field is wrong.
 */
export async function loadListings(file: string, source: ListingSource, now = Date.now()): Promise<SavedListing[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const body: unknown = JSON.parse(text);
  if (!isObject(body) || body["format"] !== FORMAT || body["version"] !== VERSION) throw new Error("not a listings file of this version");
  if (body["endpoint"] !== source.endpoint || body["bucket"] !== source.bucket) return [];
  const listings = body["listings"];
  if (!Array.isArray(listings)) throw new Error("no listings");
  return listings.map((l: unknown, i) => {
    const d = savedDir(l);
    if (!d) throw new Error(`listing ${i} is malformed`);
    const entries: PackedEntry[] = [
      ...d.dirs.map((name) => ({ name, dir: true, size: 0, mtimeMs: 0 })),
      ...d.files.map(([name, size, mtimeMs, generation, crc]) => ({ name, dir: false, size, mtimeMs, generation, ...(crc !== null ? { crc32c: crc } : {}) })),
    ];
    return { prefix: d.prefix, ageMs: now - d.fetchedAt, entries };
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function savedFile(v: unknown): v is SavedFile {
  return Array.isArray(v) && v.length === 5 && isName(v[0]) && isCount(v[1]) && typeof v[2] === "number" && Number.isFinite(v[2])
    && typeof v[3] === "string" && /^\d{1,30}$/.test(v[3]) && (v[4] === null || (typeof v[4] === "string" && /^[A-Za-z0-9+/]{6}==$/.test(v[4])));
}

function savedDir(v: unknown): SavedDir | undefined {
  if (!isObject(v)) return undefined;
  const { prefix, fetchedAt, dirs, files } = v;
  if (typeof prefix !== "string" || !isCount(fetchedAt) || !Array.isArray(dirs) || !Array.isArray(files)) return undefined;
  if (!dirs.every(isName) || !files.every(savedFile)) return undefined;
  return { prefix, fetchedAt, dirs, files };
}
