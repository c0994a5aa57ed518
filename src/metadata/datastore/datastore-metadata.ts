// MetadataSource and MetadataSink over Google Cloud Datastore (or its
// emulator, when DATASTORE_EMULATOR_HOST is set), using the official client's
// gRPC layer directly: its high-level entity decoding turns timestamps into
// millisecond Dates and refuses integers past 2^53, and sidecars must show
// what was stored.
//
// Retries are ours (util/retry), not the client's: each RPC gets a short
// timeout and the caller's policy bounds the whole call, so a mount never
// waits on Datastore longer than it decided to.
import { credentials } from "@grpc/grpc-js";
import { v1 } from "@google-cloud/datastore";
import type { google } from "@google-cloud/datastore/build/src/protos.js";
import type { Clock } from "../../util/clock.js";
import type { Logger } from "../../util/log.js";
import { withRetries, type RetryPolicy } from "../../util/retry.js";
import { MetadataError, MetadataPermissionError, MetadataUnavailableError } from "../errors.js";
import type { MetadataSink, MetadataSource, RecordQuery } from "../metadata-store.js";
import { keyString, type KeyPath, type MetadataRecord } from "../record.js";
import { keyToProto, recordFromProto, recordToProto } from "./values.js";

export interface DatastoreMetadataOptions {
  project: string;
  /** host:port of an emulator; default $DATASTORE_EMULATOR_HOST, else Google with Application Default Credentials. */
  emulatorHost?: string;
  /** Limit on each RPC. */
  rpcTimeoutMs: number;
  retry: RetryPolicy;
  clock: Clock;
  log: Logger;
}

// gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
const RETRYABLE = new Set([4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 10 /* ABORTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */]);
const DENIED = new Set([7 /* PERMISSION_DENIED */, 16 /* UNAUTHENTICATED */]);

function normalizeError(err: unknown, what: string): MetadataError {
  if (err instanceof MetadataError) return err;
  const e = err as { code?: unknown; details?: string; message?: string };
  const msg = `${what}: ${e?.details || e?.message || String(err)}`;
  if (typeof e?.code === "number" && RETRYABLE.has(e.code)) return new MetadataUnavailableError(msg, { cause: err });
  if (typeof e?.code === "number" && DENIED.has(e.code)) return new MetadataPermissionError(msg, { cause: err });
  return new MetadataError(msg, { cause: err });
}

export class DatastoreMetadata implements MetadataSource, MetadataSink {
  readonly project: string;
  /** RPCs sent (runQuery, lookup, commit...), for logs and tests. */
  requests = 0;
  private readonly client: v1.DatastoreClient;

  constructor(private readonly opts: DatastoreMetadataOptions) {
    this.project = opts.project;
    const emulator = opts.emulatorHost ?? process.env.DATASTORE_EMULATOR_HOST;
    // Reconnect quickly after an outage instead of grpc's 120 s backoff ceiling.
    const channel = { "grpc.initial_reconnect_backoff_ms": 200, "grpc.max_reconnect_backoff_ms": 2000 };
    if (emulator) {
      const m = /^(?:https?:\/\/)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(emulator);
      if (!m) throw new MetadataError(`DATASTORE_EMULATOR_HOST must be host:port, not "${emulator}"`);
      // The emulator takes no credentials; a fixed universe domain keeps the
      // client from probing the GCE metadata server for one.
      this.client = new v1.DatastoreClient({
        servicePath: m[1]!, port: Number(m[2] ?? 8081), sslCreds: credentials.createInsecure(),
        projectId: opts.project, universeDomain: "googleapis.com", ...channel,
      });
    } else {
      this.client = new v1.DatastoreClient({ projectId: opts.project, ...channel });
    }
  }

  /** One RPC: counted, with errors typed. */
  private async rpc<T>(what: string, op: () => Promise<T>): Promise<T> {
    this.requests++;
    try {
      return await op();
    } catch (err) {
      throw normalizeError(err, what);
    }
  }

  private retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
    return withRetries({ clock: this.opts.clock, log: this.opts.log, policy: this.opts.retry }, what,
      (e) => e instanceof MetadataUnavailableError, op);
  }

  private get gax(): { timeout: number; retry: null } {
    return { timeout: this.opts.rpcTimeoutMs, retry: null };
  }

  async query(q: RecordQuery): Promise<MetadataRecord[]> {
    const filters: google.datastore.v1.IFilter[] = [];
    if (q.ancestor) {
      filters.push({ propertyFilter: { property: { name: "__key__" }, op: "HAS_ANCESTOR", value: { keyValue: keyToProto(q.ancestor, this.project) } } });
    }
    if (q.where) {
      filters.push({ propertyFilter: { property: { name: q.where.property }, op: "EQUAL", value: { stringValue: q.where.equals } } });
    }
    const query: google.datastore.v1.IQuery = {
      ...(q.kind ? { kind: [{ name: q.kind }] } : {}),
      ...(filters.length === 1 ? { filter: filters[0]! } : filters.length > 1 ? { filter: { compositeFilter: { op: "AND", filters } } } : {}),
    };
    const what = `datastore query${q.kind ? ` kind=${q.kind}` : ""}${q.ancestor ? ` ancestor=${keyString(q.ancestor)}` : ""}${q.where ? ` ${q.where.property}=${JSON.stringify(q.where.equals)}` : ""}`;
    const out: MetadataRecord[] = [];
    let cursor: Uint8Array | string | undefined;
    for (let page = 1; ; page++) {
      const [resp] = await this.retrying(what, () => this.rpc(what, () => this.client.runQuery({
        projectId: this.project, partitionId: { projectId: this.project },
        query: { ...query, ...(cursor ? { startCursor: cursor } : {}) },
      }, this.gax)));
      const batch = resp.batch;
      for (const r of batch?.entityResults ?? []) if (r.entity) out.push(recordFromProto(r.entity));
      this.opts.log.debug(`${what}: page ${page}, ${batch?.entityResults?.length ?? 0} records`);
      const next = batch?.endCursor ?? undefined;
      if (batch?.moreResults !== "NOT_FINISHED" || !next || next.length === 0) break;
      if (cursor && Buffer.from(next as Uint8Array).equals(Buffer.from(cursor as Uint8Array))) break; // no progress: don't spin
      cursor = next;
    }
    return out;
  }

  async transact(keys: KeyPath[], update: (current: (MetadataRecord | undefined)[]) => MetadataRecord[]): Promise<void> {
    const what = `datastore transaction on ${keys.length} records`;
    // The whole read-modify-write is retried on contention (ABORTED) and outages.
    await this.retrying(what, async () => {
      const [begun] = await this.rpc("datastore beginTransaction", () => this.client.beginTransaction({ projectId: this.project }, this.gax));
      const transaction = begun.transaction ?? null;
      const protoKeys = keys.map((k) => keyToProto(k, this.project));
      const [found] = await this.rpc("datastore lookup", () => this.client.lookup({ projectId: this.project, keys: protoKeys, readOptions: { transaction } }, this.gax));
      const byKey = new Map<string, MetadataRecord>();
      for (const r of found.found ?? []) {
        if (!r.entity) continue;
        const rec = recordFromProto(r.entity);
        byKey.set(keyString(rec.key), rec);
      }
      const next = update(keys.map((k) => byKey.get(keyString(k))));
      await this.rpc("datastore commit", () => this.client.commit({
        projectId: this.project, mode: "TRANSACTIONAL", transaction,
        mutations: next.map((r) => ({ upsert: recordToProto(r, this.project) })),
      }, this.gax));
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
