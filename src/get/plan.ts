// What `som get` will fetch: the entities (or images) the query names, every
// object under each entity's prefix, and the sidecar each record becomes —
// the same files, at the same relative paths, that `cp -r` of
// <collection>/<entity> from a som mount gives, plus <entity>.json beside it.
import type { MetadataSource } from "../metadata/metadata-store.js";
import { keyName, type MetadataRecord } from "../metadata/record.js";
import { collectionKey, entityPrefix } from "../metadata/som-model.js";
import { renderSidecar } from "../metadata/sidecar.js";
import { isValidName } from "../namespace/namespace.js";
import type { ObjectInfo, ObjectStore } from "../storage/object-store.js";
import { listEverything } from "../listing/parallel-lister.js";
import { unsafePathReason } from "./safe-path.js";

export interface GetQuery {
  collection: string;
  suid: string;
  /** Match Image records by AccessionNumber instead of Entity records by uid. */
  queryImages: boolean;
  /** Object-name prefix the som tree lives under. */
  prefix: string;
}

export interface FileTask {
  object: ObjectInfo;
  /** Path under the output folder: <collection>/<entity>/<rel>. */
  dest: string;
}

export interface SidecarTask {
  dest: string;
  data: Buffer;
}

export interface Refusal {
  name: string;
  reason: string;
}

/** What the records add: sidecar files, and objects they name that the bucket doesn't have. */
export interface RecordPlan {
  sidecars: SidecarTask[];
  missing: string[];
}

export interface GetPlan {
  entities: string[];
  files: FileTask[];
  /** Objects whose names would land outside the output folder. */
  refused: Refusal[];
  /**
   * Settles after `files` is known: the listings answer before the record
   * queries, and downloads needn't wait for the records.
   */
  records: Promise<RecordPlan>;
}

export class NothingFoundError extends Error {}

/** List requests in flight per entity listing (an entity of 10,000 images is 10 pages). */
const LIST_CONCURRENCY = 16;

/** An entity's objects (recursive listing) and records (one ancestor query), fetched together. */
interface EntityContents {
  objects: Promise<ObjectInfo[]>;
  records: Promise<MetadataRecord[]>;
}

function fetchEntity(store: ObjectStore, metadata: MetadataSource, q: GetQuery, e: string): EntityContents {
  const objects = listEverything(store, { prefix: entityPrefix(q.prefix, q.collection, e) }, LIST_CONCURRENCY).then((r) => r.objects);
  const records = metadata.query({ ancestor: [...collectionKey(q.collection), { kind: "Entity", name: e }] });
  // Awaited later, or never if this was a wrong guess: don't let a failure go unhandled meanwhile.
  objects.catch(() => undefined);
  records.catch(() => undefined);
  return { objects, records };
}

export async function planGet(store: ObjectStore, metadata: MetadataSource, q: GetQuery): Promise<GetPlan> {
  const c = q.collection;
  // Entities to fetch whole, and (with --query-images) the only records wanted in each.
  const wanted = new Map<string, Set<string> | undefined>();
  const entityRecords = new Map<string, MetadataRecord>();
  // The som tools name an entity by its uid, so its contents are fetched while
  // the query that confirms it runs: one round trip instead of two. A wrong
  // guess costs one unused listing and query.
  const guess = !q.queryImages && isValidName(q.suid) ? fetchEntity(store, metadata, q, q.suid) : undefined;
  if (q.queryImages) {
    const images = await metadata.query({ kind: "Image", ancestor: collectionKey(c), where: { property: "AccessionNumber", equals: q.suid } });
    if (images.length === 0) throw new NothingFoundError(`No image with AccessionNumber ${q.suid} in collection ${c}`);
    for (const r of images) {
      const e = r.key.length === 3 ? keyName(r.key[1]!) : undefined;
      const name = keyName(r.key[2]!);
      if (e === undefined || name === undefined) continue;
      if (!wanted.has(e)) wanted.set(e, new Set());
      wanted.get(e)!.add(name);
    }
  } else {
    const entities = await metadata.query({ kind: "Entity", ancestor: collectionKey(c), where: { property: "uid", equals: q.suid } });
    for (const r of entities) {
      const e = r.key.length === 2 ? keyName(r.key[1]!) : undefined;
      if (e === undefined) continue;
      wanted.set(e, undefined);
      entityRecords.set(e, r);
    }
    if (wanted.size === 0) throw new NothingFoundError(`No entity with uid ${q.suid} in collection ${c}`);
  }

  const plan: GetPlan = { entities: [], files: [], refused: [], records: Promise.resolve({ sidecars: [], missing: [] }) };
  const valid = [...wanted.keys()].filter((e) => {
    if (isValidName(e) && isValidName(c)) return true;
    plan.refused.push({ name: `${c}/${e}`, reason: "the collection or entity name can't be a folder name" });
    return false;
  });
  const contents = valid.map((e) => (guess && e === q.suid ? guess : fetchEntity(store, metadata, q, e)));
  const objects = await Promise.all(contents.map((x) => x.objects));
  const present = valid.map((e, i) => addFiles(plan, q, e, wanted.get(e), objects[i]!));
  plan.records = Promise.all(contents.map((x) => x.records)).then((records) => {
    const out: RecordPlan = { sidecars: [], missing: [] };
    valid.forEach((e, i) => addRecords(out, q, e, wanted.get(e), entityRecords.get(e), records[i]!, present[i]!));
    return out;
  });
  plan.records.catch(() => undefined); // the caller awaits it; a failure is reported there
  return plan;
}

/** The entity's objects as files to fetch; returns the names the bucket has. */
/** What an entity's listing tells the records: where each written file went, and every name the bucket has. */
interface EntityFiles {
  dests: Map<string, string>;
  names: Set<string>;
}

function addFiles(plan: GetPlan, q: GetQuery, e: string, only: Set<string> | undefined, objects: ObjectInfo[]): EntityFiles {
  const prefix = entityPrefix(q.prefix, q.collection, e);
  plan.entities.push(e);
  const dests = new Map<string, string>(); // object name -> dest, for the files that will be written
  for (const o of objects) {
    if (only && !only.has(o.name)) continue;
    const rel = o.name.slice(prefix.length);
    if (rel === "") continue; // a folder placeholder
    const reason = unsafePathReason(rel);
    if (reason) {
      plan.refused.push({ name: o.name, reason });
      continue;
    }
    const dest = `${q.collection}/${e}/${rel}`;
    plan.files.push({ object: o, dest });
    dests.set(o.name, dest);
  }
  // Every object name, written or not, decides sidecar collisions and missing objects.
  return { dests, names: new Set(objects.map((o) => o.name)) };
}

function addRecords(out: RecordPlan, q: GetQuery, e: string, only: Set<string> | undefined, entityRecord: MetadataRecord | undefined, records: MetadataRecord[], { dests, names }: EntityFiles): void {
  const prefix = entityPrefix(q.prefix, q.collection, e);
  const byName = new Map<string, MetadataRecord>();
  for (const r of records) {
    const name = r.key.length === 3 ? keyName(r.key[2]!) : undefined;
    if (name !== undefined && !byName.has(name)) byName.set(name, r);
  }
  for (const [name, record] of byName) {
    const dest = dests.get(name);
    // A real object named like the sidecar wins, as in the mount.
    if (dest && !names.has(`${name}.json`)) out.sidecars.push({ dest: `${dest}.json`, data: renderSidecar(record.properties) });
  }
  for (const name of only ?? byName.keys()) {
    if (!names.has(name) && name.startsWith(prefix)) out.missing.push(name);
  }
  const own = entityRecord ?? records.find((r) => r.key.length === 2);
  if (own) out.sidecars.push({ dest: `${q.collection}/${e}.json`, data: renderSidecar(own.properties) });
}
