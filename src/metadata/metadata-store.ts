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
/** What a caller hears about a query while it runs. */
export interface QueryProgress {
  /** A page of results arrived. */
  onPage?: () => void;
  /** An attempt failed and will be retried. */
  onRetry?: () => void;
}

export interface MetadataSource {
  readonly project: string;
  query(q: RecordQuery, progress?: QueryProgress): Promise<MetadataRecord[]>;
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
