// In-memory MetadataSource/MetadataSink for unit tests: the same query
// semantics as Datastore (ancestor queries include the ancestor itself,
// results in key order), a query counter, and switchable outages.
import { MetadataUnavailableError } from "../errors.js";
import type { MetadataSink, MetadataSource, QueryProgress, RecordQuery } from "../metadata-store.js";
import { isDescendant, keyString, type KeyPath, type MetadataRecord, type RecordValue } from "../record.js";

/** A deep copy that keeps blobs as Buffers (structuredClone makes them plain Uint8Arrays). */
function cloneValue(v: RecordValue): RecordValue {
  switch (v.type) {
    case "blob": return { ...v, value: Buffer.from(v.value) };
    case "key": return { ...v, value: v.value.map((k) => ({ ...k })) };
    case "entity": return { ...v, value: Object.fromEntries(Object.entries(v.value).map(([k, x]) => [k, cloneValue(x)])) };
    case "array": return { ...v, value: v.value.map(cloneValue) };
    default: return { ...v };
  }
}

function cloneRecord(r: MetadataRecord): MetadataRecord {
  return { key: r.key.map((k) => ({ ...k })), properties: Object.fromEntries(Object.entries(r.properties).map(([k, v]) => [k, cloneValue(v)])) };
}

export class MemoryMetadata implements MetadataSource, MetadataSink {
  readonly records = new Map<string, MetadataRecord>();
  queries: RecordQuery[] = [];
  /** While set, every call fails as if Datastore were unreachable. */
  down = false;
  /** While set, queries wait for it before their (one) page: a Datastore that is slow to answer. */
  hold: Promise<void> | undefined;

  constructor(readonly project = "test-project") {}

  put(...records: MetadataRecord[]): void {
    for (const r of records) this.records.set(keyString(r.key), cloneRecord(r));
  }

  async query(q: RecordQuery, progress?: QueryProgress): Promise<MetadataRecord[]> {
    this.queries.push(q);
    if (this.down) throw new MetadataUnavailableError("datastore query: unavailable (test outage)");
    await (this.hold ?? Promise.resolve());
    progress?.onPage?.();
    return [...this.records.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, r]) => r)
      .filter((r) => (!q.kind || r.key[r.key.length - 1]?.kind === q.kind) && (!q.ancestor || isDescendant(r.key, q.ancestor)))
      .filter((r) => {
        const v = q.where ? r.properties[q.where.property] : undefined;
        return !q.where || (v?.type === "string" && v.value === q.where.equals);
      })
      .map((r) => cloneRecord(r));
  }

  async transact(keys: KeyPath[], update: (current: (MetadataRecord | undefined)[]) => MetadataRecord[]): Promise<void> {
    if (this.down) throw new MetadataUnavailableError("datastore commit: unavailable (test outage)");
    await Promise.resolve();
    const current = keys.map((k) => this.records.get(keyString(k)));
    this.put(...update(current.map((r) => (r ? cloneRecord(r) : undefined))));
  }
}
