// MetadataSource and MetadataSink over Google Cloud Datastore's REST API (or
// its emulator, when DATASTORE_EMULATOR_HOST is set). Plain HTTPS + JSON over
// util/http-client instead of the gRPC client library: the JSON form keeps
// every value exactly (int64 as decimal strings, nanosecond timestamps), and
// loading gRPC and its protobufs cost ~0.45 s of CPU at every start, which a
// short `som get` and a lean mount daemon can't afford.
//
// Retries are ours (util/retry): each request gets a short timeout and the
// caller's policy bounds the whole call, so a mount never waits on Datastore
// longer than it decided to.
import { AdcTokens, CredentialsError, DATASTORE, noCredentials, type TokenSource } from "../../auth/tokens.js";
import type { Clock } from "../../util/clock.js";
import { HttpClient, HttpTransportError, readBody } from "../../util/http-client.js";
import type { Logger } from "../../util/log.js";
import { withRetries, type RetryPolicy } from "../../util/retry.js";
import { MetadataError, MetadataPermissionError, MetadataUnavailableError } from "../errors.js";
import type { MetadataSink, MetadataSource, QueryProgress, RecordQuery } from "../metadata-store.js";
import { keyString, type KeyPath, type MetadataRecord } from "../record.js";
import { keyToJson, recordFromJson, recordToJson, type JsonEntity, type JsonKey, type JsonValue } from "./values.js";

export interface DatastoreMetadataOptions {
  project: string;
  /** host:port of an emulator; default $DATASTORE_EMULATOR_HOST, else Google with Application Default Credentials. */
  emulatorHost?: string;
  /** Limit on each request. */
  rpcTimeoutMs: number;
  /** Tests only; otherwise the one retry policy. */
  retry?: RetryPolicy;
  clock: Clock;
  log: Logger;
}

const GOOGLE = "https://datastore.googleapis.com";
/** HTTP statuses worth retrying: timeout, contention (ABORTED), overload, server trouble. */
const RETRYABLE = new Set([408, 409, 429, 500, 502, 503, 504]);

interface JsonFilter {
  propertyFilter?: { property: { name: string }; op: string; value: JsonValue };
  compositeFilter?: { op: "AND"; filters: JsonFilter[] };
}

interface RunQueryResponse {
  batch?: {
    entityResults?: { entity?: JsonEntity }[];
    endCursor?: string;
    moreResults?: string;
  };
}

interface LookupResponse {
  found?: { entity?: JsonEntity }[];
  deferred?: JsonKey[];
}

export class DatastoreMetadata implements MetadataSource, MetadataSink {
  readonly project: string;
  /** Requests sent (runQuery, lookup, commit...), for logs and tests. */
  requests = 0;
  private readonly http: HttpClient;
  private readonly tokens: TokenSource;

  constructor(private readonly opts: DatastoreMetadataOptions) {
    this.project = opts.project;
    const emulator = opts.emulatorHost ?? process.env.DATASTORE_EMULATOR_HOST;
    if (emulator) {
      const m = /^(?:https?:\/\/)?([^/]+?)\/?$/.exec(emulator);
      if (!m) throw new MetadataError(`DATASTORE_EMULATOR_HOST must be host:port, not "${emulator}"`);
      this.http = new HttpClient(`http://${m[1]}`, 16);
      this.tokens = noCredentials; // the emulator takes no credentials
    } else {
      this.http = new HttpClient(GOOGLE, 16);
      this.tokens = new AdcTokens([DATASTORE]);
    }
  }

  /** One request: counted, timed out, with errors typed; a 401 gets one fresh token and one more try. */
  private async rpc<T>(method: string, body: object): Promise<T> {
    const what = `datastore ${method}`;
    let { status, text, token } = await this.send(method, body, what);
    if (status === 401 && (await this.tokens.refresh(token))) ({ status, text } = await this.send(method, body, what));
    if (status < 200 || status >= 300) {
      let detail = text.slice(0, 300);
      try {
        const e = (JSON.parse(text) as { error?: { status?: string; message?: string } }).error;
        if (e) detail = `${e.status ?? status}: ${e.message ?? ""}`;
      } catch {
        // not JSON
      }
      const msg = `${what}: HTTP ${status} ${detail}`;
      if (RETRYABLE.has(status)) throw new MetadataUnavailableError(msg);
      if (status === 401 || status === 403) throw new MetadataPermissionError(msg);
      throw new MetadataError(msg);
    }
    return JSON.parse(text) as T;
  }

  private async send(method: string, body: object, what: string): Promise<{ status: number; text: string; token: string | undefined }> {
    this.requests++;
    const headers: Record<string, string> = { "content-type": "application/json" };
    let token: string | undefined;
    try {
      token = await this.tokens.token();
    } catch (err) {
      if (err instanceof CredentialsError && !err.transient) throw new MetadataPermissionError(`${what}: ${err.message}`, { cause: err });
      throw new MetadataUnavailableError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      const res = await this.http.open({
        method: "POST", path: `/v1/projects/${encodeURIComponent(this.project)}:${method}`, headers, body: JSON.stringify(body),
        idleTimeoutMs: this.opts.rpcTimeoutMs, totalTimeoutMs: this.opts.rpcTimeoutMs,
      });
      return { status: res.statusCode ?? 0, text: (await readBody(res)).toString("utf8"), token };
    } catch (err) {
      const detail = err instanceof HttpTransportError ? `${err.code} (${err.message})` : String(err);
      throw new MetadataUnavailableError(`${what}: ${detail}`, { cause: err });
    }
  }

  private retrying<T>(what: string, op: () => Promise<T>, onRetry?: () => void): Promise<T> {
    return withRetries({ clock: this.opts.clock, log: this.opts.log, ...(this.opts.retry ? { policy: this.opts.retry } : {}), ...(onRetry ? { onRetry } : {}) }, what,
      (e) => e instanceof MetadataUnavailableError, op);
  }

  async query(q: RecordQuery, progress?: QueryProgress): Promise<MetadataRecord[]> {
    const filters: JsonFilter[] = [];
    if (q.ancestor) filters.push({ propertyFilter: { property: { name: "__key__" }, op: "HAS_ANCESTOR", value: { keyValue: keyToJson(q.ancestor, this.project) } } });
    if (q.where) filters.push({ propertyFilter: { property: { name: q.where.property }, op: "EQUAL", value: { stringValue: q.where.equals } } });
    const query = {
      ...(q.kind ? { kind: [{ name: q.kind }] } : {}),
      ...(filters.length === 1 ? { filter: filters[0] } : filters.length > 1 ? { filter: { compositeFilter: { op: "AND", filters } } } : {}),
    };
    const what = `datastore query${q.kind ? ` kind=${q.kind}` : ""}${q.ancestor ? ` ancestor=${keyString(q.ancestor)}` : ""}${q.where ? ` ${q.where.property}=${JSON.stringify(q.where.equals)}` : ""}`;
    const out: MetadataRecord[] = [];
    let cursor: string | undefined;
    for (let page = 1; ; page++) {
      const resp = await this.retrying(what, () => this.rpc<RunQueryResponse>("runQuery", {
        partitionId: { projectId: this.project }, query: { ...query, ...(cursor ? { startCursor: cursor } : {}) },
      }), progress?.onRetry);
      const batch = resp.batch;
      for (const r of batch?.entityResults ?? []) if (r.entity) out.push(recordFromJson(r.entity));
      progress?.onPage?.();
      this.opts.log.debug(`${what}: page ${page}, ${batch?.entityResults?.length ?? 0} records`);
      const next = batch?.endCursor;
      if (batch?.moreResults !== "NOT_FINISHED" || !next || next === cursor) break;
      cursor = next;
    }
    return out;
  }

  async transact(keys: KeyPath[], update: (current: (MetadataRecord | undefined)[]) => MetadataRecord[]): Promise<void> {
    // The whole read-modify-write is retried on contention (409 ABORTED) and outages.
    await this.retrying(`datastore transaction on ${keys.length} records`, async () => {
      const { transaction } = await this.rpc<{ transaction: string }>("beginTransaction", {});
      const byKey = new Map<string, MetadataRecord>();
      let pending = keys.map((k) => keyToJson(k, this.project));
      while (pending.length > 0) {
        const found = await this.rpc<LookupResponse>("lookup", { keys: pending, readOptions: { transaction } });
        for (const r of found.found ?? []) {
          if (!r.entity) continue;
          const rec = recordFromJson(r.entity);
          byKey.set(keyString(rec.key), rec);
        }
        pending = found.deferred ?? []; // Datastore may answer a big lookup in parts
      }
      const next = update(keys.map((k) => byKey.get(keyString(k))));
      await this.rpc("commit", { mode: "TRANSACTIONAL", transaction, mutations: next.map((r) => ({ upsert: recordToJson(r, this.project) })) });
    });
  }

  /** Nothing to release: idle keep-alive connections don't hold the process open. */
  async close(): Promise<void> {}
}
