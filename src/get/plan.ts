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
import { listAll } from "../storage/paging.js";
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

export interface GetPlan {
  entities: string[];
  files: FileTask[];
  sidecars: SidecarTask[];
  /** Objects whose names would land outside the output folder. */
  refused: Refusal[];
  /** Records that name an object the bucket doesn't have. */
  missing: string[];
}

export class NothingFoundError extends Error {}

/** An entity's objects (recursive listing) and records (one ancestor query), fetched together. */
interface EntityContents {
  objects: ObjectInfo[];
  records: MetadataRecord[];
}

function fetchEntity(store: ObjectStore, metadata: MetadataSource, q: GetQuery, e: string): Promise<EntityContents> {
  return Promise.all([
    listAll(store, { prefix: entityPrefix(q.prefix, q.collection, e) }),
    metadata.query({ ancestor: [...collectionKey(q.collection), { kind: "Entity", name: e }] }),
  ]).then(([{ objects }, records]) => ({ objects, records }));
}

export async function planGet(store: ObjectStore, metadata: MetadataSource, q: GetQuery): Promise<GetPlan> {
  const c = q.collection;
  const plan: GetPlan = { entities: [], files: [], sidecars: [], refused: [], missing: [] };
  // Entities to fetch whole, and (with --query-images) the only records wanted in each.
  const wanted = new Map<string, Set<string> | undefined>();
  const entityRecords = new Map<string, MetadataRecord>();
  // The som tools name an entity by its uid, so its contents are fetched while
  // the query that confirms it runs: one round trip instead of two. A wrong
  // guess costs one unused listing and query.
  const guess = !q.queryImages && isValidName(q.suid) ? fetchEntity(store, metadata, q, q.suid) : undefined;
  guess?.catch(() => undefined); // awaited below only if the guess was right
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

  const valid = [...wanted.keys()].filter((e) => {
    if (isValidName(e) && isValidName(c)) return true;
    plan.refused.push({ name: `${c}/${e}`, reason: "the collection or entity name can't be a folder name" });
    return false;
  });
  const contents = await Promise.all(valid.map((e) => (guess && e === q.suid ? guess : fetchEntity(store, metadata, q, e))));
  valid.forEach((e, i) => addEntity(plan, q, e, wanted.get(e), entityRecords.get(e), contents[i]!));
  return plan;
}

function addEntity(plan: GetPlan, q: GetQuery, e: string, only: Set<string> | undefined, entityRecord: MetadataRecord | undefined, { objects, records }: EntityContents): void {
  const c = q.collection;
  plan.entities.push(e);
  const prefix = entityPrefix(q.prefix, c, e);
  const byName = new Map<string, MetadataRecord>();
  for (const r of records) {
    const name = r.key.length === 3 ? keyName(r.key[2]!) : undefined;
    if (name !== undefined && !byName.has(name)) byName.set(name, r);
  }
  const present = new Set(objects.map((o) => o.name));
  for (const o of objects) {
    if (only && !only.has(o.name)) continue;
    const rel = o.name.slice(prefix.length);
    if (rel === "") continue; // a folder placeholder
    const reason = unsafePathReason(rel);
    if (reason) {
      plan.refused.push({ name: o.name, reason });
      continue;
    }
    const dest = `${c}/${e}/${rel}`;
    plan.files.push({ object: o, dest });
    const record = byName.get(o.name);
    // A real object named like the sidecar wins, as in the mount.
    if (record && !present.has(`${o.name}.json`)) plan.sidecars.push({ dest: `${dest}.json`, data: renderSidecar(record.properties) });
  }
  for (const name of only ?? byName.keys()) {
    if (!present.has(name) && name.startsWith(prefix)) plan.missing.push(name);
  }
  const own = entityRecord ?? records.find((r) => r.key.length === 2);
  if (own) plan.sidecars.push({ dest: `${c}/${e}.json`, data: renderSidecar(own.properties) });
}
