// The two roles the rest of som needs from Datastore. Implementations:
// DatastoreMetadata (the real service or its emulator, over its REST API) and
// MemoryMetadata (tests).
import type { KeyPath, MetadataRecord } from "./record.js";

export interface RecordQuery {
  /** Only records of this kind; omitted = every kind (a kindless ancestor query). */
  kind?: string;
  /** Only this record and its descendants. */
  ancestor?: KeyPath;
  /** Only records whose string property equals this value. */
  where?: { property: string; equals: string };
}

/** Reads records: one call is one query, paged to the end. */
export interface MetadataSource {
  readonly project: string;
  /** `onPage` is called as each page of results arrives. */
  query(q: RecordQuery, onPage?: () => void): Promise<MetadataRecord[]>;
}

/** Writes records atomically. */
export interface MetadataSink {
  readonly project: string;
  /**
   * Reads the records at `keys` (undefined where there is none) and writes
   * what `update` returns, as one transaction; retried on contention, so
   * `update` must be a pure function of what it is given.
   */
  transact(keys: KeyPath[], update: (current: (MetadataRecord | undefined)[]) => MetadataRecord[]): Promise<void>;
}
