// The som layout: objects named Collection/<c>/Entity/<e>/<file> appear as
// <c>/<e>/<file>, and each Datastore record as a sidecar "<name>.json" beside
// what it describes (the full name plus .json, never the stem).
//
// Each directory listing is one GCS listing (through RawLayout, which pages
// and caches it) and, concurrently, one Datastore query: all Collections for
// the root, an ancestor query on the collection for its Entities, and a
// kindless ancestor query on the entity for its Image/Text records, shared by
// every sub-directory of that entity. Nothing is looked up per file.
//
// Directories are the union of both sources; files only ever come from
// objects (a record without its object shows nothing; a real object named
// like a sidecar wins over it). When Datastore fails the listing is served
// without sidecars, cached only for the short negative TTL, and Datastore is
// left alone for a while so a dead service costs one timeout, not one per ls.
import { LRUCache } from "lru-cache";
import type { SavedListing } from "../listing/listing-cache.js";
import { FsError } from "../fs/errors.js";
import type { MetadataSource, QueryProgress, RecordQuery } from "../metadata/metadata-store.js";
import { keyName, timestampDate, type MetadataRecord } from "../metadata/record.js";
import { renderSidecar } from "../metadata/sidecar.js";
import type { ObjectStore } from "../storage/object-store.js";
import { MapDirectory, type Directory } from "./directory.js";
import { isValidName, splitPath, type DirEntry, type Entry, type FileEntry, type ListingStats, type Namespace } from "./namespace.js";
import { RawLayout, type RawLayoutOptions } from "./raw-layout.js";

export interface SomLayoutOptions extends RawLayoutOptions {
  /** Where records come from; without one the tree has no sidecars. */
  metadata?: MetadataSource;
  /** After a Datastore failure, how long listings go without asking it. */
  outageBackoffMs: number;
  /**
   * How long a listing waits for its records without a page arriving; then it
   * is shown without sidecars (briefly cached) while the query goes on.
   */
  sidecarPatienceMs: number;
  /** List the first page of a collection's sub-tree when it is looked up cold (off with --no-prefetch). Default on. */
  seedCollections?: boolean;
}

export const SIDECAR_SUFFIX = ".json";

/** Records of one query, by the name they describe (collection, entity, or full object name). */
type RecordSet = Map<string, MetadataRecord>;

/** A records query under way: its result, when its last page came, and a promise settled at its first failed attempt. */
interface RecordsInFlight {
  result: Promise<RecordSet | undefined>;
  lastPage: number;
  troubled: Promise<void>;
}

export class SomLayout implements Namespace {
  private readonly raw: RawLayout;
  private readonly listings: LRUCache<string, MapDirectory>;
  private readonly inflight = new Map<string, Promise<MapDirectory>>();
  private readonly recordSets: LRUCache<string, RecordSet>;
  private readonly recordsInflight = new Map<string, RecordsInFlight>();
  private readonly dirEntry: DirEntry;
  private outageUntil = 0;
  /** Listings are going without sidecars (warned once, until Datastore answers again). */
  private inOutage = false;

  constructor(store: ObjectStore, private readonly opts: SomLayoutOptions) {
    this.raw = new RawLayout(store, opts);
    const timing = { perf: { now: () => opts.clock.now() }, ttlResolution: 0 };
    this.listings = new LRUCache({ max: 4096, ttl: Math.max(1, opts.metadataTtlMs), ...timing });
    this.recordSets = new LRUCache({ max: 1024, ttl: Math.max(1, opts.metadataTtlMs), ...timing });
    this.dirEntry = { kind: "dir", mtime: opts.mountTime };
  }

  /** The GCS listings behind the tree (merged directories are small and not counted). */
  listingStats(): ListingStats {
    return this.raw.listingStats();
  }

  /** Object-name prefix behind a directory of the som tree. */
  private rawPrefix(segments: string[]): string {
    const [c, e, ...rest] = segments;
    let p = `${this.opts.prefix}Collection/`;
    if (c !== undefined) p += `${c}/Entity/`;
    if (e !== undefined) p += `${e}/`;
    if (rest.length) p += `${rest.join("/")}/`;
    return p;
  }

  async lookup(path: string): Promise<Entry | undefined> {
    const segments = splitPath(path);
    if (segments.length === 0) return this.dirEntry;
    const name = segments[segments.length - 1]!;
    if (!isValidName(name)) return undefined;
    const parent = segments.slice(0, -1);
    // A collection or entity looked up before its parent is listed (cp -r or cd down a cold
    // path): its own listing starts now, beside the parent's, since what comes next is a look
    // inside it. A collection not listed yet also gets the first page of its whole sub-tree, flat,
    // which lists the entities it holds whole: a path two levels down (C/E) costs one round trip,
    // not three. Below an entity a name may be a file, and a sidecar's name is no directory: those wait.
    if (segments.length <= 2 && !name.endsWith(SIDECAR_SUFFIX)) {
      if (this.seedWorthy(segments[0]!)) this.raw.seedPrefix(this.rawPrefix([segments[0]!]));
      if (!this.listings.has(parent.join("\0"))) this.listing(segments).catch(() => undefined);
    }
    if (parent.length > 0) {
      const p = await this.lookup(`/${parent.join("/")}`);
      if (!p || p.kind !== "dir") return undefined;
    }
    return (await this.listing(parent)).get(name);
  }

  /**
   * Whether a collection's sub-tree is worth its first page now: it is not
   * listed (nor being listed), and the root, if listed, has it as a
   * directory — names a shell or viewer probes that the root does not have
   * cost nothing.
   */
  private seedWorthy(collection: string): boolean {
    if (this.opts.seedCollections === false || collection.endsWith(SIDECAR_SUFFIX)) return false;
    if (this.listings.has(collection) || this.inflight.has(collection)) return false;
    // Listed already, by this daemon or (kept across a remount) the one before it.
    if (this.raw.prefixFreshFor(this.rawPrefix([collection])) > 0) return false;
    const root = this.listings.peek("");
    return root === undefined || root.get(collection)?.kind === "dir";
  }

  async readdir(path: string): Promise<Directory> {
    const segments = splitPath(path);
    if (segments.length > 0) {
      const e = await this.lookup(path);
      if (!e) throw new FsError("ENOENT", `no such directory: ${path}`);
      if (e.kind !== "dir") throw new FsError("ENOTDIR", `not a directory: ${path}`);
    }
    return this.listing(segments);
  }

  /** Merged listings need both sources whole, so an open directory is a complete one. */
  opendir(path: string): Promise<Directory> {
    return this.readdir(path);
  }

  forget(path: string): void {
    const segments = splitPath(path);
    if (segments.length === 0) return;
    this.listings.delete(segments.slice(0, -1).join("\0"));
    this.raw.forgetPrefix(this.rawPrefix(segments.slice(0, -1)));
  }

  freshFor(path: string): number {
    const key = splitPath(path).join("\0");
    return this.listings.has(key) ? Math.max(0, this.listings.getRemainingTTL(key)) : 0;
  }

  savedListings(maxEntries: number): SavedListing[] {
    return this.raw.savedListings(maxEntries);
  }

  restoreListings(saved: readonly SavedListing[]): number {
    return this.raw.restoreListings(saved);
  }

  cached(path: string): Directory | undefined {
    return this.listings.get(splitPath(path).join("\0"));
  }

  walking(path: string, child: string): void {
    this.raw.walkPrefix(this.rawPrefix(splitPath(path)), child);
  }

  private listing(segments: string[]): Promise<MapDirectory> {
    const key = segments.join("\0");
    const cached = this.listings.get(key);
    if (cached) return Promise.resolve(cached);
    let p = this.inflight.get(key);
    if (!p) {
      p = this.buildListing(segments).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async buildListing(segments: string[]): Promise<MapDirectory> {
    const prefix = this.rawPrefix(segments);
    const [children, records] = await Promise.all([this.raw.listPrefix(prefix), this.records(segments)]);
    const merged = new Map(children.entries());
    if (records) {
      if (segments.length < 2) this.mergeContainers(merged, children, records);
      else this.mergeObjectRecords(merged, children, records, prefix);
    }
    // Without the records this listing is incomplete: keep it only briefly.
    const incomplete = this.opts.metadata !== undefined && records === undefined;
    const dir = new MapDirectory(merged);
    // Fresh no longer than the listing it was made from (which may be one an earlier daemon fetched).
    const rawLeft = this.raw.prefixFreshFor(prefix);
    const ttl = incomplete ? this.opts.negativeTtlMs : rawLeft > 0 ? Math.min(rawLeft, this.opts.metadataTtlMs) : this.opts.metadataTtlMs;
    this.listings.set(segments.join("\0"), dir, { ttl: Math.max(1, ttl) });
    return dir;
  }

  /** Root and collection directories: a directory for every record (union), plus its sidecar. */
  private mergeContainers(merged: Map<string, Entry>, children: Directory, records: RecordSet): void {
    for (const [name, record] of records) {
      if (!isValidName(name) || !isValidName(name + SIDECAR_SUFFIX)) {
        this.opts.log.debug(`record ${JSON.stringify(name)} has a name no directory can have; not shown`);
        continue;
      }
      const existing = children.get(name);
      if (!existing) merged.set(name, this.dirEntry);
      else if (existing.kind !== "dir") this.opts.log.debug(`object ${JSON.stringify(name)} is a file where a record names a directory; showing the file`);
      this.addSidecar(merged, children, name, record);
    }
  }

  /** Entity directories and below: a sidecar for each object that has a record. */
  private mergeObjectRecords(merged: Map<string, Entry>, children: Directory, records: RecordSet, prefix: string): void {
    for (const [name, entry] of children.entries()) {
      if (entry.kind !== "file" || entry.source.kind !== "object") continue;
      const record = records.get(entry.source.name);
      if (record) this.addSidecar(merged, children, name, record);
    }
    for (const objectName of records.keys()) {
      const rest = objectName.startsWith(prefix) ? objectName.slice(prefix.length) : undefined;
      if (rest !== undefined && !rest.includes("/") && children.get(rest)?.kind !== "file") {
        this.opts.log.debug(`record for gs://…/${objectName} has no object; nothing shown`);
      }
    }
  }

  private addSidecar(merged: Map<string, Entry>, children: Directory, name: string, record: MetadataRecord): void {
    const sidecar = name + SIDECAR_SUFFIX;
    if (children.get(sidecar)) {
      this.opts.log.debug(`a real object is named ${JSON.stringify(sidecar)}; it is shown instead of the record's sidecar`);
      return;
    }
    merged.set(sidecar, this.sidecarEntry(record));
  }

  private sidecarEntry(record: MetadataRecord): FileEntry {
    const data = renderSidecar(record.properties);
    const mtime = timestampDate(record.properties.updated) ?? timestampDate(record.properties.created) ?? this.opts.mountTime;
    return { kind: "file", size: data.length, mtime, source: { kind: "inline", data } };
  }

  /** The query behind a directory's sidecars, and how its records are named. */
  private recordQuery(segments: string[]): { key: string; query: RecordQuery; nameOf: (r: MetadataRecord) => string | undefined } {
    const [c, e] = segments;
    if (c === undefined) {
      return { key: "", query: { kind: "Collection" }, nameOf: (r) => (r.key.length === 1 ? keyName(r.key[0]!) : undefined) };
    }
    const collection = { kind: "Collection", name: c };
    if (e === undefined) {
      return {
        key: c, query: { kind: "Entity", ancestor: [collection] },
        nameOf: (r) => (r.key.length === 2 ? keyName(r.key[1]!) : undefined),
      };
    }
    // Kindless: Image and Text records (and any other kind) in one query. Their
    // key name is the whole object name.
    return {
      key: `${c}\0${e}`, query: { ancestor: [collection, { kind: "Entity", name: e }] },
      nameOf: (r) => (r.key.length === 3 ? keyName(r.key[2]!) : undefined),
    };
  }

  /** Records for a directory, or undefined when there is no Datastore or it failed. */
  private records(segments: string[]): Promise<RecordSet | undefined> {
    const source = this.opts.metadata;
    if (!source) return Promise.resolve(undefined);
    const { key, query, nameOf } = this.recordQuery(segments);
    const cached = this.recordSets.get(key);
    if (cached) return Promise.resolve(cached);
    if (this.opts.clock.now() < this.outageUntil) return Promise.resolve(undefined);
    let q = this.recordsInflight.get(key);
    if (!q) {
      let trouble!: () => void;
      const started: RecordsInFlight = { result: Promise.resolve(undefined), lastPage: this.opts.clock.now(), troubled: new Promise((r) => (trouble = r)) };
      started.result = this.fetchRecords(source, key, query, nameOf, {
        onPage: () => (started.lastPage = this.opts.clock.now()),
        onRetry: () => trouble(),
      }).finally(() => this.recordsInflight.delete(key));
      this.recordsInflight.set(key, started);
      q = started;
    }
    return this.patiently(q);
  }

  /**
   * The query's records; or undefined — the listing goes without sidecars,
   * the query goes on — once it has gone `sidecarPatienceMs` without a page,
   * or an attempt of it has failed (the retries may take a while: Datastore
   * is refusing, overloaded or gone).
   */
  private patiently(q: RecordsInFlight): Promise<RecordSet | undefined> {
    const { clock, sidecarPatienceMs } = this.opts;
    let settled = false;
    let troubled = false;
    void q.result.finally(() => (settled = true));
    const trouble = q.troubled.then(() => {
      troubled = true;
    });
    const giveUp = async (): Promise<undefined> => {
      for (let idle = clock.now() - q.lastPage; idle < sidecarPatienceMs && !settled && !troubled; idle = clock.now() - q.lastPage) {
        await Promise.race([clock.sleep(sidecarPatienceMs - idle), trouble]);
      }
      if (!settled) {
        // Stalled or failing: like a failure, it keeps the next listings from waiting on Datastore for a while.
        this.outageUntil = Math.max(this.outageUntil, clock.now() + this.opts.outageBackoffMs);
        if (!this.inOutage) {
          this.inOutage = true;
          const why = troubled ? "is failing" : `has sent nothing for ${Math.round(sidecarPatienceMs / 1000)} s`;
          this.opts.log.warn(`Datastore ${why}; listing without sidecar .json files until it answers (next try in ${Math.round(this.opts.outageBackoffMs / 1000)} s)`);
        }
      }
      return undefined;
    };
    return Promise.race([q.result, giveUp()]);
  }

  private async fetchRecords(source: MetadataSource, key: string, query: RecordQuery, nameOf: (r: MetadataRecord) => string | undefined, progress: QueryProgress): Promise<RecordSet | undefined> {
    let records: MetadataRecord[];
    try {
      records = await source.query(query, progress);
    } catch (err) {
      this.outageUntil = this.opts.clock.now() + this.opts.outageBackoffMs;
      const msg = `Datastore failed (${err instanceof Error ? err.message : String(err)}); sidecar .json files are hidden until it answers (next try in ${Math.round(this.opts.outageBackoffMs / 1000)} s)`;
      if (this.inOutage) this.opts.log.debug(msg);
      else this.opts.log.warn(msg);
      this.inOutage = true;
      return undefined;
    }
    if (this.inOutage) this.opts.log.info("Datastore answers again; sidecars are back");
    this.inOutage = false;
    const set: RecordSet = new Map();
    for (const r of records) {
      const name = nameOf(r);
      if (name === undefined) continue;
      if (set.has(name)) this.opts.log.debug(`two records describe ${JSON.stringify(name)}; showing the first`);
      else set.set(name, r);
    }
    this.recordSets.set(key, set);
    return set;
  }
}

/** --layout auto: som when the mounted tree has a top-level Collection/ prefix. */
export async function detectLayout(store: ObjectStore, prefix: string): Promise<"som" | "raw"> {
  const page = await store.list({ prefix: `${prefix}Collection/`, maxResults: 1 });
  return page.objects.length > 0 || page.prefixes.length > 0 ? "som" : "raw";
}
