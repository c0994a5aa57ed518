// The raw layout: object names split on "/" are paths (Imaging Data Commons
// buckets are <series_uuid>/<instance_uuid>.dcm). Directories are listed one
// level at a time with a delimiter, every page, and the listing supplies each
// child's size and mtime, so `ls -l`/`find` make no request per file.
//
// Lookups are answered from a cached parent listing when there is one;
// otherwise by a directed lookup (object stat + a one-result listing of
// "name/" in parallel), so `cat a/b/c` does not list huge parents. Listings and
// positive lookups live for the metadata TTL, misses for the shorter negative
// TTL (shells and viewers probe many names that don't exist).
import { LRUCache } from "lru-cache";
import { NotFoundError } from "../storage/errors.js";
import type { ObjectInfo, ObjectStore } from "../storage/object-store.js";
import { listFast } from "../storage/paging.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { FsError } from "../fs/errors.js";
import { isValidName, splitPath, type DirEntry, type Entry, type FileEntry, type Namespace } from "./namespace.js";

export interface RawLayoutOptions {
  /** Sub-tree to mount, e.g. "studies/2024/" ("" = whole bucket). */
  prefix: string;
  metadataTtlMs: number;
  negativeTtlMs: number;
  clock: Clock;
  log: Logger;
  /** mtime shown for directories that have no placeholder object. */
  mountTime: Date;
}

export function normalizePrefix(prefix: string | undefined): string {
  const p = (prefix ?? "").replace(/^\/+/, "").replace(/\/+$/, "");
  return p ? `${p}/` : "";
}

export function fileEntry(o: ObjectInfo): FileEntry {
  return {
    kind: "file", size: o.size, mtime: o.updated,
    source: { kind: "object", name: o.name, generation: o.generation, ...(o.crc32c ? { crc32c: o.crc32c } : {}) },
  };
}

export class RawLayout implements Namespace {
  private readonly listings: LRUCache<string, Map<string, Entry>>;
  private readonly lookups: LRUCache<string, Entry | "missing">;
  private readonly inflight = new Map<string, Promise<Map<string, Entry>>>();
  private readonly dirEntry: DirEntry;

  constructor(private readonly store: ObjectStore, private readonly opts: RawLayoutOptions) {
    const perf = { now: () => opts.clock.now() };
    // ttlResolution 0: ask the (injected) clock every time instead of caching "now" on a timer.
    const timing = { perf, ttlResolution: 0 };
    this.listings = new LRUCache({ max: 4096, ttl: Math.max(1, opts.metadataTtlMs), ...timing });
    this.lookups = new LRUCache({ max: 65536, ttl: Math.max(1, opts.metadataTtlMs), ...timing });
    this.dirEntry = { kind: "dir", mtime: opts.mountTime };
  }

  /** The object-name prefix of a directory path. */
  private dirPrefix(segments: string[]): string {
    return segments.length ? `${this.opts.prefix}${segments.join("/")}/` : this.opts.prefix;
  }

  async readdir(path: string): Promise<Map<string, Entry>> {
    const segments = splitPath(path);
    if (segments.length) {
      const e = await this.lookup(path);
      if (!e) throw new FsError("ENOENT", `no such directory: ${path}`);
      if (e.kind !== "dir") throw new FsError("ENOTDIR", `not a directory: ${path}`);
    }
    return this.listPrefix(this.dirPrefix(segments));
  }

  /** The children of an object-name prefix, without checking that it exists (empty if nothing is there). */
  listPrefix(prefix: string): Promise<Map<string, Entry>> {
    const cached = this.listings.get(prefix);
    if (cached) return Promise.resolve(cached);
    let p = this.inflight.get(prefix);
    if (!p) {
      p = this.fetchDir(prefix).finally(() => this.inflight.delete(prefix));
      this.inflight.set(prefix, p);
    }
    return p;
  }

  private async fetchDir(prefix: string): Promise<Map<string, Entry>> {
    const { objects, prefixes } = await listFast(this.store, { prefix, delimiter: "/" });
    const children = new Map<string, Entry>();
    for (const o of objects) {
      const name = o.name.slice(prefix.length);
      if (name === "") continue; // the directory's own placeholder object "dir/"
      if (!isValidName(name)) {
        this.opts.log.debug(`skipping object with a name no file can have: ${JSON.stringify(o.name)}`);
        continue;
      }
      children.set(name, fileEntry(o));
    }
    for (const p of prefixes) {
      const name = p.slice(prefix.length, -1);
      if (!isValidName(name)) {
        this.opts.log.debug(`skipping prefix with a name no directory can have: ${JSON.stringify(p)}`);
        continue;
      }
      if (children.has(name)) this.opts.log.warn(`gs://${this.store.bucket}/${p.slice(0, -1)} is both an object and a prefix; showing the directory`);
      children.set(name, this.dirEntry);
    }
    this.listings.set(prefix, children);
    return children;
  }

  async lookup(path: string): Promise<Entry | undefined> {
    const segments = splitPath(path);
    if (segments.length === 0) return this.dirEntry;
    const name = segments[segments.length - 1]!;
    if (!isValidName(name)) return undefined;
    const parentPrefix = this.dirPrefix(segments.slice(0, -1));
    const listing = this.listings.get(parentPrefix);
    if (listing) return listing.get(name);

    const objectName = parentPrefix + name;
    const cached = this.lookups.get(objectName);
    if (cached) return cached === "missing" ? undefined : cached;

    // Directed lookup. The parent must exist for the child to; checking it
    // first keeps a miss deep in a missing tree to one cached answer.
    if (segments.length > 1) {
      const parent = await this.lookup(`/${segments.slice(0, -1).join("/")}`);
      if (!parent || parent.kind !== "dir") return undefined;
    }
    const [object, asDir] = await Promise.all([
      this.store.stat(objectName).catch((e: unknown) => {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }),
      this.store.list({ prefix: `${objectName}/`, delimiter: "/", maxResults: 1 }),
    ]);
    let entry: Entry | undefined;
    if (asDir.objects.length > 0 || asDir.prefixes.length > 0) {
      if (object) this.opts.log.warn(`gs://${this.store.bucket}/${objectName} is both an object and a prefix; showing the directory`);
      entry = this.dirEntry;
    } else if (object) {
      entry = fileEntry(object);
    }
    if (entry) this.lookups.set(objectName, entry);
    else this.lookups.set(objectName, "missing", { ttl: Math.max(1, this.opts.negativeTtlMs) });
    return entry;
  }
}
