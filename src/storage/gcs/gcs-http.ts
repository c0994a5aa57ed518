// The GCS JSON API over util/http-client: object listings, metadata and
// media, which is all a mount or `som get` needs. The SDK is kept for uploads
// only (loaded on demand): importing it costs ~0.3 s of CPU per start, and its
// download() builds a stream pipeline per request (warning about listener
// leaks under concurrency) for what is one GET. Status codes and transport
// failures become the storage layer's typed errors.
import type { IncomingMessage } from "node:http";
import { CredentialsError, type TokenSource } from "../../auth/tokens.js";
import { HttpClient, HttpTransportError, readBody } from "../../util/http-client.js";
import { StreamClient } from "../../util/http1/stream-client.js";
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
    const res = await this.authorized(what, extra, (headers) => this.media.get({ path, headers, idleTimeoutMs: IDLE_TIMEOUT_MS }), {
      status: (r) => r.status,
      body: (r) => r.text(),
    });
    try {
      const n = await res.pipe(sink);
      noteReceived(n);
      return n;
    } catch (err) {
      if (err instanceof HttpTransportError) throw new TransientError(`${what}: ${err.message}`, { cause: err });
      throw err; // the sink's own failure
    }
  }

  /** Sends a GET over node:http; resolves with a 2xx response, else throws the typed error. */
  private open(path: string, extra: Record<string, string>, what: string): Promise<IncomingMessage> {
    const billed = this.billed(path);
    return this.authorized(what, extra, (headers) => this.client.open({ path: billed, headers, idleTimeoutMs: IDLE_TIMEOUT_MS }), {
      status: (r) => r.statusCode ?? 0,
      body: readBody,
    });
  }

  /**
   * Sends a request through `send` with the bearer token, whichever client
   * carries it; resolves with a 2xx answer, else throws the typed error. A
   * 401 gets one fresh token and one more try (an expired or revoked token),
   * which is not a retry in the policy's sense.
   */
  private async authorized<R>(what: string, extra: Record<string, string>, send: (headers: Record<string, string>) => Promise<R>, answer: { status(r: R): number; body(r: R): Promise<Buffer> }): Promise<R> {
    const attempt = async (): Promise<{ res: R; token: string | undefined }> => {
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
      try {
        return { res: await send(headers), token };
      } catch (err) {
        throw transportError(err, what);
      }
    };
    let { res, token } = await attempt();
    if (answer.status(res) === 401 && (await this.tokens.refresh(token))) {
      await answer.body(res).catch(() => undefined);
      ({ res } = await attempt());
    }
    const status = answer.status(res);
    if (status >= 200 && status < 300) return res;
    throw statusError(status, await answer.body(res).catch(() => Buffer.alloc(0)), what);
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
