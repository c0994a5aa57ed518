// The GCS JSON API over node:http(s) with a keep-alive agent: object
// listings, metadata and media, which is all a mount or `som get` needs. The
// SDK is kept for uploads only (loaded on demand): importing it costs ~0.3 s
// of CPU per start, and its download() builds a stream pipeline per request
// (warning about listener leaks under concurrency) for what is one GET.
// node:http rather than fetch: measured here on 201 × 0.5 MB reads, 16 at a
// time, it used ~35% less CPU, and CPU is what a 2-core workstation runs out
// of first. Status codes become the storage layer's typed errors.
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { NotFoundError, PermissionError, PreconditionError, StorageError, TransientError, UnreachableError } from "../errors.js";
import type { ByteRange, ByteSink } from "../object-store.js";

/** Supplies an OAuth access token, or undefined for unauthenticated requests. */
export type TokenSource = () => Promise<string | undefined>;

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
/** A connection that goes this long without a byte is given up (and the call retried). */
const IDLE_TIMEOUT_MS = 20_000;

export class GcsHttp {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(baseUrl: string, private readonly token: TokenSource) {
    this.url = new URL(baseUrl);
    const secure = this.url.protocol === "https:";
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 64 }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.request = secure ? https.request : http.request;
  }

  private path(p: string): string {
    return `${this.url.pathname.replace(/\/+$/, "")}${p}`;
  }

  /** GET a JSON API resource, e.g. /storage/v1/b/B/o?prefix=... */
  async json<T>(path: string, what: string): Promise<T> {
    const body = await this.get(this.path(path), {}, what);
    return JSON.parse(body.toString("utf8")) as T;
  }

  /** Bytes of one object generation, whole or a range. */
  async media(bucket: string, name: string, generation: string, range: ByteRange | undefined, what: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const n = await this.mediaTo(bucket, name, generation, range, (c) => void chunks.push(c), what);
    return Buffer.concat(chunks, n);
  }

  /** The same bytes handed to `sink` as they arrive. */
  async mediaTo(bucket: string, name: string, generation: string, range: ByteRange | undefined, sink: ByteSink, what: string): Promise<number> {
    const p = this.path(`/download/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}?alt=media&generation=${generation}`);
    const res = await this.open(p, { "accept-encoding": "identity", ...(range ? { range: `bytes=${range.start}-${range.end - 1}` } : {}) }, what);
    if (res.statusCode !== 200 && res.statusCode !== 206) throw await this.failure(res, what);
    return new Promise<number>((resolve, reject) => {
      let n = 0;
      let failed = false;
      // The sink's last unfinished work: the stream only counts as delivered once it is done.
      let pending: Promise<void> = Promise.resolve();
      const fail = (err: unknown): void => {
        if (failed) return;
        failed = true;
        res.destroy();
        reject(err);
      };
      res.on("data", (c: Buffer) => {
        n += c.length;
        const p = sink(c);
        if (p) {
          res.pause(); // let the sink (a disk write) catch up
          pending = p.then(() => void res.resume());
          pending.catch(fail);
        }
      });
      res.on("end", () => {
        pending.then(() => {
          if (!failed) resolve(n);
        }, fail);
      });
      // The connection dropped mid-body.
      res.on("error", (err) => fail(new TransientError(`${what}: body cut short (${err.message})`, { cause: err })));
      res.on("aborted", () => fail(new TransientError(`${what}: body cut short`)));
    });
  }

  private async get(path: string, extra: Record<string, string>, what: string): Promise<Buffer> {
    const res = await this.open(path, extra, what);
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) throw await this.failure(res, what);
    return readBody(res, what);
  }

  private async open(path: string, extra: Record<string, string>, what: string): Promise<IncomingMessage> {
    const headers: Record<string, string> = { ...extra };
    const token = await this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.request({ protocol: this.url.protocol, hostname: this.url.hostname, port: this.url.port, path, headers, agent: this.agent }, resolve);
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no data for ${IDLE_TIMEOUT_MS} ms`), { code: "ETIMEDOUT" })));
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code && UNREACHABLE.has(err.code)) reject(new UnreachableError(`${what}: ${err.code}`, { cause: err }));
        else reject(new TransientError(`${what}: ${err.code ?? err.message}`, { cause: err }));
      });
      req.end();
    });
  }

  /** The typed error for a non-2xx answer. */
  private async failure(res: IncomingMessage, what: string): Promise<StorageError> {
    const status = res.statusCode ?? 0;
    const body = await readBody(res, what).catch(() => Buffer.alloc(0));
    let detail = body.toString("utf8", 0, Math.min(body.length, 300));
    try {
      detail = (JSON.parse(detail) as { error?: { message?: string } }).error?.message ?? detail;
    } catch {
      // not JSON
    }
    const msg = `${what}: HTTP ${status} ${detail}`;
    if (status === 404) return new NotFoundError(msg);
    if (status === 412) return new PreconditionError(msg);
    if (status === 401 || status === 403) return new PermissionError(msg);
    if (status === 408 || status === 429 || status >= 500) return new TransientError(msg);
    return new StorageError(msg);
  }
}

function readBody(res: IncomingMessage, what: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on("data", (c: Buffer) => {
      chunks.push(c);
      n += c.length;
    });
    res.on("end", () => resolve(Buffer.concat(chunks, n)));
    res.on("error", (err) => reject(new TransientError(`${what}: body cut short (${err.message})`, { cause: err })));
    res.on("aborted", () => reject(new TransientError(`${what}: body cut short`)));
  });
}
