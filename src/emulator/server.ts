// The GCS JSON API over HTTP, enough for @google-cloud/storage, gcloud storage
// and rclone: buckets get/list/insert, objects list/get/media/delete, and
// media/multipart/resumable uploads. Paths are accepted with or without
// /storage/v1 (STORAGE_EMULATOR_HOST clients omit it) and under /download,
// /upload and /resumable/upload. /_emulator/* exposes counters and faults.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Faults, type FaultOptions } from "./faults.js";
import { BadListQuery, listObjects } from "./list.js";
import { sendMedia } from "./media.js";
import { bucketResource, errorBody, objectResource } from "./resource.js";
import { Stats } from "./stats.js";
import { EmulatorError, EmulatorStore, type Preconditions } from "./store.js";
import type { SyntheticSpec } from "./synthetic.js";
import { Uploads } from "./uploads.js";

export interface EmulatorOptions {
  port?: number;
  host?: string;
  /** bucket name -> directory to seed it from (may be undefined for an empty bucket) */
  buckets?: Record<string, string | undefined>;
  /** bucket name -> generated namespaces (read-only buckets with no files behind them) */
  synthetic?: Record<string, SyntheticSpec[]>;
  faults?: Partial<FaultOptions>;
  dataDir?: string;
  /** Buckets that are requester pays: every request must name a userProject, as GCS asks. */
  requesterPays?: string[];
  log?: (line: string) => void;
}

interface Route {
  kind: "api" | "upload" | "download" | "layout";
  bucket?: string;
  object?: string;
  /** path names the object collection (/b/B/o) rather than one object */
  collection: boolean;
}

/** Parses the API path forms into bucket and object; undefined when not an API path. */
export function parseRoute(pathname: string): Route | undefined {
  let p = pathname.replace(/^\/resumable(?=\/upload\/)/, "");
  let kind: Route["kind"] = "api";
  if (p.startsWith("/upload/")) { kind = "upload"; p = p.slice(7); }
  else if (p.startsWith("/download/")) { kind = "download"; p = p.slice(9); }
  p = p.replace(/^\/storage\/v1(?=\/)/, "");
  if (p === "/b" || p === "/b/") return { kind, collection: false };
  const layout = /^\/b\/([^/]+)\/storageLayout$/.exec(p);
  if (layout) return { kind: "layout", bucket: decodeURIComponent(layout[1]!), collection: false };
  const m = /^\/b\/([^/]+)(?:\/o(?:\/(.*))?)?$/.exec(p);
  if (!m) return undefined;
  const bucket = decodeURIComponent(m[1]!);
  const hasO = /^\/b\/[^/]+\/o(\/|$)/.test(p);
  if (!hasO) return { kind, bucket, collection: false };
  if (m[2] === undefined || m[2] === "") return { kind, bucket, collection: true };
  return { kind, bucket, object: decodeURIComponent(m[2]), collection: false };
}

function preconditions(q: URLSearchParams): Preconditions {
  const p: Preconditions = {};
  const g = q.get("ifGenerationMatch");
  const ng = q.get("ifGenerationNotMatch");
  const mg = q.get("ifMetagenerationMatch");
  if (g !== null) p.ifGenerationMatch = g;
  if (ng !== null) p.ifGenerationNotMatch = ng;
  if (mg !== null) p.ifMetagenerationMatch = mg;
  return p;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export class Emulator {
  readonly stats = new Stats();
  readonly faults: Faults;
  private readonly uploads: Uploads;
  private server?: Server;

  /** Buckets that refuse requests without userProject (settable at run time: /_emulator/requester-pays). */
  private readonly requesterPays: Set<string>;

  private constructor(readonly store: EmulatorStore, private readonly opts: EmulatorOptions) {
    this.requesterPays = new Set(opts.requesterPays ?? []);
    this.faults = new Faults(opts.faults);
    this.uploads = new Uploads(store);
  }

  static async start(opts: EmulatorOptions = {}): Promise<Emulator> {
    const store = await EmulatorStore.create(opts.dataDir);
    for (const [name, dir] of Object.entries(opts.buckets ?? {})) {
      if (dir) await store.seed(name, dir);
      else store.createBucket(name);
    }
    for (const [name, specs] of Object.entries(opts.synthetic ?? {})) store.addSynthetic(name, specs);
    const emu = new Emulator(store, opts);
    await emu.listen();
    return emu;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    server.keepAliveTimeout = 30_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1", () => resolve());
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    await this.store.close();
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof EmulatorError) {
      if (err.status === 304) { res.writeHead(304); res.end(); return; }
      sendJson(res, err.status, errorBody(err.status, err.message, err.reason));
      return;
    }
    if (err instanceof BadListQuery || err instanceof SyntaxError || err instanceof URIError) {
      sendJson(res, 400, errorBody(400, err.message, "invalid"));
      return;
    }
    this.opts.log?.(`emulator: internal error: ${err instanceof Error ? err.stack : String(err)}`);
    sendJson(res, 500, errorBody(500, "Internal error", "backendError"));
  }

  private base(req: IncomingMessage): string {
    return `http://${req.headers.host ?? `127.0.0.1:${this.port}`}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator");
    if (url.pathname.startsWith("/_emulator/")) return this.control(req, res, url.pathname);
    this.stats.count("requests");
    // Concurrency as clients see it: from arrival until the response is done.
    this.stats.enter();
    res.once("close", () => this.stats.leave());
    this.opts.log?.(`${req.method} ${req.url}${req.headers["content-range"] ? ` (${req.headers["content-range"]})` : ""}`);
    await this.faults.latency();
    if (this.faults.shouldFail()) {
      this.stats.count("injected503");
      req.resume();
      sendJson(res, 503, errorBody(503, "Injected failure: service unavailable", "backendError"));
      return;
    }
    const route = parseRoute(url.pathname);
    if (!route) throw new EmulatorError(404, `Not found: ${url.pathname}`, "notFound");
    const q = url.searchParams;
    // GCS answers 400 "required" before looking at anything else of a
    // requester-pays bucket's request that names no project to bill: as the
    // userProject parameter (the JSON API's own) or the X-Goog-User-Project
    // header (Google APIs' system parameter, what gcloud sends).
    const billed = q.get("userProject") || req.headers["x-goog-user-project"] || q.get("upload_id");
    if (route.bucket !== undefined && this.requesterPays.has(route.bucket) && !billed) {
      this.stats.count("unbilled");
      req.resume();
      throw new EmulatorError(400, "Bucket is a requester pays bucket but no user project provided.", "required");
    }
    const method = req.method ?? "GET";
    const base = this.base(req);

    if (route.kind === "upload") return this.upload(req, res, route, q, base);

    if (!route.bucket) {
      this.stats.count("bucket");
      if (method === "POST") {
        const body = await readJson(req);
        const b = this.store.createBucket(String(body.name));
        return sendJson(res, 200, bucketResource(base, b));
      }
      const items = [...this.store.buckets.values()].map((b) => bucketResource(base, b, this.requesterPays.has(b.name)));
      return sendJson(res, 200, { kind: "storage#buckets", items });
    }

    const bucket = this.store.bucket(route.bucket);
    if (route.kind === "layout") {
      // gcloud asks before recursive copies whether the bucket has a hierarchical namespace.
      this.stats.count("bucket");
      return sendJson(res, 200, { kind: "storage#storageLayout", bucket: bucket.name, location: "US", locationType: "multi-region", hierarchicalNamespace: { enabled: false } });
    }
    if (!route.collection && route.object === undefined) {
      this.stats.count("bucket");
      if (method === "GET") return sendJson(res, 200, bucketResource(base, bucket, this.requesterPays.has(bucket.name)));
      throw new EmulatorError(405, `Method ${method} not supported on buckets`);
    }

    if (route.collection) {
      if (method !== "GET") throw new EmulatorError(405, `Method ${method} not supported on object lists`);
      this.stats.count("list");
      if (q.get("startOffset")) await this.faults.rangeListGate();
      const max = q.get("maxResults");
      const result = listObjects(bucket, {
        ...(q.get("prefix") !== null ? { prefix: q.get("prefix")! } : {}),
        ...(q.get("delimiter") ? { delimiter: q.get("delimiter")! } : {}),
        ...(q.get("startOffset") ? { startOffset: q.get("startOffset")! } : {}),
        ...(q.get("endOffset") ? { endOffset: q.get("endOffset")! } : {}),
        ...(q.get("pageToken") ? { pageToken: q.get("pageToken")! } : {}),
        ...(max ? { maxResults: Number(max) } : {}),
        includeTrailingDelimiter: q.get("includeTrailingDelimiter") === "true",
      });
      return sendJson(res, 200, {
        kind: "storage#objects",
        ...(result.nextPageToken ? { nextPageToken: result.nextPageToken } : {}),
        ...(result.prefixes.length ? { prefixes: result.prefixes } : {}),
        items: result.items.map((o) => objectResource(base, bucket.name, o)),
      });
    }

    const name = route.object!;
    if (method === "DELETE") {
      this.stats.count("delete");
      await this.store.remove(bucket.name, name, preconditions(q));
      res.writeHead(204);
      res.end();
      return;
    }
    if (method !== "GET" && method !== "HEAD") throw new EmulatorError(405, `Method ${method} not supported on objects`);
    const o = bucket.get(name);
    const gen = q.get("generation");
    if (!o || (gen !== null && gen !== o.generation)) {
      if (route.kind === "download" || q.get("alt") === "media") this.stats.count("media");
      else this.stats.count("metadata");
      throw new EmulatorError(404, `No such object: ${bucket.name}/${name}`, "notFound");
    }
    this.store.checkPreconditions(o, preconditions(q));
    if (route.kind === "download" || q.get("alt") === "media") return sendMedia(req, res, o, this.faults, this.stats);
    this.stats.count("metadata");
    return sendJson(res, 200, objectResource(base, bucket.name, o));
  }

  private async upload(req: IncomingMessage, res: ServerResponse, route: Route, q: URLSearchParams, base: string): Promise<void> {
    this.stats.count("upload");
    if (!route.bucket || !route.collection) throw new EmulatorError(404, "Uploads go to /upload/storage/v1/b/BUCKET/o");
    const name = q.get("name") ?? undefined;
    const p = preconditions(q);
    const uploadId = q.get("upload_id");
    if (uploadId) {
      if (req.method === "DELETE") {
        this.uploads.cancel(uploadId);
        res.writeHead(499);
        res.end();
        return;
      }
      const r = await this.uploads.putChunk(req, uploadId);
      if ("done" in r) return sendJson(res, 200, objectResource(base, route.bucket, r.done));
      const headers: Record<string, string> = { "content-length": "0" };
      if (r.received > 0) headers.range = `bytes=0-${r.received - 1}`;
      // Go clients (rclone) ask for 200 + an override header, since Go's HTTP
      // client treats a bare 308 as a redirect.
      if (req.headers["x-guploader-no-308"] === "yes") {
        res.writeHead(200, { ...headers, "x-http-status-code-override": "308" });
        res.end();
        return;
      }
      res.writeHead(308, headers);
      res.end();
      return;
    }
    const type = q.get("uploadType") ?? "media";
    if (type === "resumable") {
      const id = await this.uploads.openResumable(req, route.bucket, name, p);
      const loc = `${base}/upload/storage/v1/b/${encodeURIComponent(route.bucket)}/o?uploadType=resumable&upload_id=${id}`;
      return sendJson(res, 200, "", { location: loc, "x-guploader-uploadid": id });
    }
    const o = type === "multipart"
      ? await this.uploads.multipart(req, route.bucket, name, p)
      : await this.uploads.media(req, route.bucket, name, p);
    return sendJson(res, 200, objectResource(base, route.bucket, o));
  }

  private async control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === "/_emulator/stats") return sendJson(res, 200, this.stats.snapshot());
    if (path === "/_emulator/reset" && req.method === "POST") {
      this.stats.reset();
      return sendJson(res, 200, this.stats.snapshot());
    }
    if (path === "/_emulator/requester-pays" && req.method === "POST") {
      const body = (await readJson(req)) as { bucket?: string; enabled?: boolean };
      if (body.enabled) this.requesterPays.add(String(body.bucket));
      else this.requesterPays.delete(String(body.bucket));
      return sendJson(res, 200, { requesterPays: [...this.requesterPays] });
    }
    if (path === "/_emulator/faults") {
      if (req.method === "POST") this.faults.update((await readJson(req)) as Partial<FaultOptions>);
      return sendJson(res, 200, { ...this.faults.options, holding: this.faults.holding });
    }
    throw new EmulatorError(404, `Not found: ${path}`, "notFound");
  }
}
