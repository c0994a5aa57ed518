// The GCS JSON API over util/http-client: object listings, metadata and
// media, which is all a mount or `som get` needs. The SDK is kept for uploads
// only (loaded on demand): importing it costs ~0.3 s of CPU per start, and its
// download() builds a stream pipeline per request (warning about listener
// leaks under concurrency) for what is one GET. Status codes and transport
// failures become the storage layer's typed errors.
import type { IncomingMessage } from "node:http";
import { CredentialsError, type TokenSource } from "../../auth/tokens.js";
import { HttpClient, HttpTransportError, readBody } from "../../util/http-client.js";
import { StreamClient, type StreamResponse } from "../../util/http1/stream-client.js";
import { noteReceived } from "../../util/memory.js";
import { NotFoundError, PermissionError, PreconditionError, StorageError, TransientError, UnreachableError } from "../errors.js";
import type { ByteRange, ByteSink } from "../object-store.js";

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
/** A connection that goes this long without a byte is given up (and the call retried). */
const IDLE_TIMEOUT_MS = 20_000;

export class GcsHttp {
  private readonly client: HttpClient;
  /** Media (object bytes) on connections of their own. */
  private readonly media: StreamClient;

  /** `userProject`: the project billed for requests to requester-pays buckets (--billing-project). */
  constructor(baseUrl: string, private readonly tokens: TokenSource, private readonly userProject?: string) {
    this.client = new HttpClient(baseUrl);
    this.media = new StreamClient(baseUrl);
  }

  /** Every request names the billing project when there is one: GCS refuses requester-pays buckets' requests without it. */
  private billed(path: string): string {
    if (this.userProject === undefined) return path;
    return `${path}${path.includes("?") ? "&" : "?"}userProject=${encodeURIComponent(this.userProject)}`;
  }

  /** GET a JSON API resource, e.g. /storage/v1/b/B/o?prefix=... */
  async json<T>(path: string, what: string): Promise<T> {
    const res = await this.open(path, {}, what);
    const body = await this.body(res, what);
    noteReceived(body.length);
    return JSON.parse(body.toString("utf8")) as T;
  }

  /**
   * Bytes of one object generation, whole or a range, handed to `sink` as
   * they arrive: over stream-client.ts, which gives the sink each socket read
   * without node:http's two streams per response (half the daemon's CPU per
   * byte on a cold copy, measured with the bench's series).
   */
  async mediaTo(bucket: string, name: string, generation: string, range: ByteRange | undefined, sink: ByteSink, what: string): Promise<number> {
    const path = this.billed(`/download/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}?alt=media&generation=${generation}`);
    const extra = { "accept-encoding": "identity", ...(range ? { range: `bytes=${range.start}-${range.end - 1}` } : {}) };
    let { res, token } = await this.sendMedia(path, extra, what);
    if (res.status === 401 && (await this.tokens.refresh(token))) {
      await res.text().catch(() => undefined);
      ({ res } = await this.sendMedia(path, extra, what));
    }
    if (res.status < 200 || res.status >= 300) {
      throw statusError(res.status, await res.text().catch(() => Buffer.alloc(0)), what);
    }
    try {
      const n = await res.pipe(sink);
      noteReceived(n);
      return n;
    } catch (err) {
      if (err instanceof HttpTransportError) throw new TransientError(`${what}: ${err.message}`, { cause: err });
      throw err; // the sink's own failure
    }
  }

  /**
   * Sends a GET; resolves with a 2xx response, else throws the typed error.
   * A 401 gets one fresh token and one more try (an expired or revoked
   * token), which is not a retry in the policy's sense.
   */
  private async open(path: string, extra: Record<string, string>, what: string): Promise<IncomingMessage> {
    const billed = this.billed(path);
    let { res, token } = await this.send(billed, extra, what);
    if (res.statusCode === 401 && (await this.tokens.refresh(token))) {
      res.resume();
      ({ res } = await this.send(billed, extra, what));
    }
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    throw statusError(status, await readBody(res).catch(() => Buffer.alloc(0)), what);
  }

  private async send(path: string, extra: Record<string, string>, what: string): Promise<{ res: IncomingMessage; token: string | undefined }> {
    const { headers, token } = await this.headers(extra, what);
    try {
      return { res: await this.client.open({ path, headers, idleTimeoutMs: IDLE_TIMEOUT_MS }), token };
    } catch (err) {
      throw transportError(err, what);
    }
  }

  private async sendMedia(path: string, extra: Record<string, string>, what: string): Promise<{ res: StreamResponse; token: string | undefined }> {
    const { headers, token } = await this.headers(extra, what);
    try {
      return { res: await this.media.get({ path, headers, idleTimeoutMs: IDLE_TIMEOUT_MS }), token };
    } catch (err) {
      throw transportError(err, what);
    }
  }

  /** `extra` with the bearer token, when there is one. */
  private async headers(extra: Record<string, string>, what: string): Promise<{ headers: Record<string, string>; token: string | undefined }> {
    const headers: Record<string, string> = { ...extra };
    let token: string | undefined;
    try {
      token = await this.tokens.token();
    } catch (err) {
      if (err instanceof CredentialsError) {
        throw err.transient ? new TransientError(`${what}: ${err.message}`, { cause: err }) : new PermissionError(`${what}: ${err.message}`, { cause: err });
      }
      throw err;
    }
    if (token) headers.authorization = `Bearer ${token}`;
    return { headers, token };
  }

  private async body(res: IncomingMessage, what: string): Promise<Buffer> {
    try {
      return await readBody(res);
    } catch (err) {
      throw new TransientError(`${what}: body cut short`, { cause: err });
    }
  }
}

/** The typed error for a non-2xx answer, with the service's message when its body has one. */
function statusError(status: number, body: Buffer, what: string): StorageError {
  let detail = body.toString("utf8", 0, Math.min(body.length, 300));
  try {
    detail = (JSON.parse(detail) as { error?: { message?: string } }).error?.message ?? detail;
  } catch {
    // not JSON
  }
  const msg = `${what}: HTTP ${status} ${detail}`;
  if (status === 404) return new NotFoundError(msg, { status });
  if (status === 412) return new PreconditionError(msg, { status });
  if (status === 401 || status === 403) return new PermissionError(msg, { status });
  if (status === 408 || status === 429 || status >= 500) return new TransientError(msg, { status });
  return new StorageError(msg, { status });
}

/** No HTTP answer: unreachable (the service is not there) or transient. */
function transportError(err: unknown, what: string): StorageError {
  if (err instanceof HttpTransportError && UNREACHABLE.has(err.code)) return new UnreachableError(`${what}: ${err.code}`, { cause: err });
  return new TransientError(`${what}: ${err instanceof HttpTransportError ? err.code : String(err)}`, { cause: err });
}
