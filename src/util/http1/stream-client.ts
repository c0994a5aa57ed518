// Keep-alive HTTP/1.1 GETs whose bodies go straight from the socket to a
// sink: the media path (object bytes). Same contract as http-client.ts's
// open (typed transport errors, an idle timeout) over its own connections,
// with response-parser.ts in place of node:http's streams. One request per
// connection at a time; up to `maxSockets` connections; a connection the
// server closed while idle is found out by the request written to it, which
// is then sent once more on a fresh one (nothing of it was answered).
//
// Body bytes are read by the socket straight into page-sized Buffers
// (body-pages.ts) through net's `onread`, not into a fresh Buffer per read.
import net from "node:net";
import tls from "node:tls";
import { HttpTransportError } from "../http-client.js";
import { BodyPages } from "./body-pages.js";
import { ParseError, ResponseParser, type ResponseHead } from "./response-parser.js";

export interface StreamRequest {
  path: string;
  headers: Record<string, string>;
  /** Give up when no byte moves for this long (the connection is destroyed). */
  idleTimeoutMs: number;
}

/** Takes body bytes; a promise holds the socket until it settles (backpressure). */
export type BodySink = (chunk: Buffer) => Promise<void> | void;

/** A response whose head has arrived; its body is taken once, by `pipe` or `discard`. */
export interface StreamResponse extends ResponseHead {
  /** Hands every body byte to `sink`; resolves with the count once the body is complete and the sink done. */
  pipe(sink: BodySink): Promise<number>;
  /** The whole body as one buffer (for an error's detail). */
  text(): Promise<Buffer>;
}

interface Exchange {
  resolveHead(r: StreamResponse): void;
  rejectHead(err: Error): void;
  headSeen: boolean;
  /** Body bytes before a sink was attached. */
  early: Buffer[];
  sink?: BodySink;
  bytes: number;
  /** The sink's last unfinished work. */
  pending: Promise<void>;
  ended: boolean;
  error?: Error;
  /** Set by pipe: settles its promise once the body ended or failed. */
  settle?: () => void;
  /** Where its body is read to (made with the first body byte). */
  pages?: BodyPages;
}

/**
 * Reads outside a Content-Length body (heads, chunk framing, bytes nobody
 * asked for) land here and are parsed, their body bytes copied out, before
 * the callback returns: one for every connection, since each read is
 * handled before the next one starts.
 */
const scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** The socket's `onread`, set before its Connection exists (net asks for the first buffer at once). */
interface ReadHook {
  conn?: Connection;
  /** Bytes came before the Connection existed (the server spoke first). */
  unasked?: boolean;
}

function onread(hook: ReadHook): net.OnReadOpts {
  return {
    buffer: () => hook.conn?.readBuffer() ?? scratch,
    callback: (n, buf) => {
      if (hook.conn) hook.conn.onRead(n, buf as Buffer);
      else hook.unasked = true;
      return true;
    },
  };
}

function fail(x: Exchange, err: Error): void {
  x.error ??= err;
  if (!x.headSeen) x.rejectHead(err);
  x.settle?.();
}

class Connection {
  private exchange: Exchange | undefined;
  private parser: ResponseParser | undefined;
  /** Responses this connection has carried: a failure before any answer on a reused one is retried. */
  answered = 0;
  dead = false;
  released = false;
  /** Set while a read that landed in a body page is parsed (its body bytes are in place already). */
  private inPlace = false;

  constructor(readonly socket: net.Socket, private readonly release: (c: Connection, reusable: boolean) => void, private readonly stats: BodyStats) {
    socket.setNoDelay(true);
    socket.on("end", () => this.onClose(undefined));
    socket.on("close", () => this.onClose(undefined));
    socket.on("error", (err: NodeJS.ErrnoException) => this.onClose(err));
    socket.on("timeout", () => {
      socket.destroy(Object.assign(new Error(`no data for ${socket.timeout ?? 0} ms`), { code: "ETIMEDOUT" }));
    });
  }

  send(head: string, x: Exchange): void {
    this.exchange = x;
    this.parser = new ResponseParser({ head: (h) => this.onHead(x, h), body: (c) => this.onBody(x, c), end: (reusable) => this.onEnd(x, reusable) });
    this.socket.write(head);
  }

  /** Where the next socket read goes: the current body page while a Content-Length body is under way, else the scratch. */
  readBuffer(): Buffer {
    const left = this.parser?.lengthLeft;
    const x = this.exchange;
    if (!left || !x || x.error) return scratch;
    x.pages ??= new BodyPages(left);
    return x.pages.room(left);
  }

  onRead(n: number, buf: Buffer): void {
    if (!this.parser) {
      // Bytes nobody asked for (on an idle connection): it cannot be trusted with a request.
      this.socket.destroy();
      return;
    }
    const inPlace = buf !== scratch;
    const pages = this.exchange?.pages;
    if (inPlace && !pages) {
      this.socket.destroy(); // a page outlived its response: cannot happen while reads follow the parser
      return;
    }
    const data = inPlace ? pages!.commit(n) : buf.subarray(0, n);
    if (inPlace) this.stats.inPlace += n;
    this.inPlace = inPlace;
    try {
      this.parser.feed(data);
    } catch (err) {
      const msg = err instanceof ParseError ? `bad response: ${err.message}` : String(err);
      this.socket.destroy(Object.assign(new Error(msg), { code: "EPROTO" }));
    } finally {
      this.inPlace = false;
    }
  }

  private onHead(x: Exchange, h: ResponseHead): void {
    x.headSeen = true;
    this.answered++;
    x.resolveHead({
      ...h,
      pipe: (sink) => this.attach(x, sink),
      text: async () => {
        const parts: Buffer[] = [];
        await this.attach(x, (c) => void parts.push(c));
        return Buffer.concat(parts);
      },
    });
  }

  private attach(x: Exchange, sink: BodySink): Promise<number> {
    if (x.sink) return Promise.reject(new Error("a response body is taken once"));
    x.sink = sink;
    for (const c of x.early.splice(0)) this.deliver(x, c);
    return new Promise<number>((resolve, reject) => {
      x.settle = () => {
        if (x.error) reject(x.error);
        else if (x.ended) x.pending.then(() => resolve(x.bytes), reject);
      };
      x.settle();
    });
  }

  private deliver(x: Exchange, c: Buffer): void {
    x.bytes += c.length;
    const p = x.sink!(c);
    if (!p) return;
    this.socket.pause(); // let the sink (a disk write) catch up
    x.pending = x.pending.then(() => p).then(() => void (this.dead || this.socket.resume()));
    x.pending.catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      fail(x, e);
      if (this.exchange === x) this.socket.destroy(e);
    });
  }

  private onBody(x: Exchange, c: Buffer): void {
    // Bytes read into a page are held as they are; the scratch's are copied into pages first.
    let parts: Buffer[];
    if (this.inPlace) parts = [c];
    else {
      x.pages ??= new BodyPages(this.parser?.lengthLeft);
      parts = x.pages.append(c);
      this.stats.copied += c.length;
    }
    for (const p of parts) {
      if (x.sink) this.deliver(x, p);
      else x.early.push(p);
    }
  }

  private onEnd(x: Exchange, reusable: boolean): void {
    this.exchange = undefined;
    this.parser = undefined;
    x.ended = true;
    x.settle?.();
    // Back to the pool once the sink has caught up (the socket is resumed by then).
    x.pending.then(() => this.release(this, reusable && !this.dead), () => this.release(this, false));
  }

  private onClose(err: NodeJS.ErrnoException | undefined): void {
    if (this.dead) return;
    this.dead = true;
    const x = this.exchange;
    if (x && this.parser && !err) {
      try {
        this.parser.closed(); // a body framed by the close ends here
      } catch {
        // cut short: reported below
      }
    }
    if (x && !x.ended) {
      const what = x.headSeen ? "body cut short" : "connection closed before a response";
      fail(x, new HttpTransportError(err?.code ?? "ECONNRESET", `${what}${err ? ` (${err.message})` : ""}`, { cause: err }));
    }
    this.exchange = undefined;
    this.parser = undefined;
    this.socket.destroy();
    this.release(this, false);
  }
}

/** Body bytes read straight into their pages, and those copied there from the scratch. */
export interface BodyStats {
  inPlace: number;
  copied: number;
}

export class StreamClient {
  readonly url: URL;
  readonly stats: BodyStats = { inPlace: 0, copied: 0 };
  private readonly idle: Connection[] = [];
  private readonly waiting: ((c: Connection | undefined) => void)[] = [];
  private open = 0;
  private readonly host: string;

  constructor(baseUrl: string, private readonly maxSockets = 64) {
    this.url = new URL(baseUrl);
    this.host = this.url.host;
  }

  /** Sends a GET; resolves once the response head arrives (any status), with its body still to take. */
  async get(r: StreamRequest): Promise<StreamResponse> {
    const path = `${this.url.pathname.replace(/\/+$/, "")}${r.path}`;
    let head = `GET ${path} HTTP/1.1\r\nHost: ${this.host}\r\nConnection: keep-alive\r\n`;
    for (const [k, v] of Object.entries(r.headers)) {
      if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new HttpTransportError("EINVAL", `header ${k} holds a line break`);
      head += `${k}: ${v}\r\n`;
    }
    head += "\r\n";
    for (let attempt = 0; ; attempt++) {
      const c = await this.acquire();
      const reused = c.answered > 0;
      try {
        return await new Promise<StreamResponse>((resolve, reject) => {
          c.socket.setTimeout(r.idleTimeoutMs);
          c.send(head, { resolveHead: resolve, rejectHead: reject, headSeen: false, early: [], bytes: 0, pending: Promise.resolve(), ended: false });
        });
      } catch (err) {
        // A kept-alive connection the server had closed: nothing was answered, so the request is sent again.
        if (reused && attempt === 0 && err instanceof HttpTransportError) continue;
        throw err;
      }
    }
  }

  /** Closes idle connections (busy ones close when their response ends). */
  close(): void {
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  private acquire(): Promise<Connection> {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.dead) continue;
      c.socket.ref();
      return Promise.resolve(c);
    }
    if (this.open < this.maxSockets) return this.connect();
    return new Promise<Connection | undefined>((resolve) => this.waiting.push(resolve)).then((c) => c ?? this.connect());
  }

  private connect(): Promise<Connection> {
    this.open++;
    const port = Number(this.url.port) || (this.url.protocol === "https:" ? 443 : 80);
    const host = this.url.hostname.replace(/^\[|\]$/g, "");
    return new Promise<Connection>((resolve, reject) => {
      const hook: ReadHook = {};
      const socket = this.url.protocol === "https:"
        // tls takes onread too (nodejs/node#35753); @types/node leaves it out.
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ["http/1.1"], onread: onread(hook) } as tls.ConnectionOptions)
        : net.connect({ host, port, onread: onread(hook) });
      const ready = this.url.protocol === "https:" ? "secureConnect" : "connect";
      const failed = (err: NodeJS.ErrnoException): void => {
        this.open--;
        this.handOn();
        reject(new HttpTransportError(err.code ?? "EIO", err.message, { cause: err }));
      };
      socket.once("error", failed);
      socket.once(ready, () => {
        socket.off("error", failed);
        hook.conn = new Connection(socket, (c, reusable) => this.release(c, reusable), this.stats);
        if (hook.unasked) socket.destroy(); // it cannot be trusted with a request
        resolve(hook.conn);
      });
    });
  }

  private release(c: Connection, reusable: boolean): void {
    if (!reusable) {
      if (!c.dead) {
        c.dead = true;
        c.socket.destroy();
      }
      if (c.released) return;
      c.released = true;
      this.open--;
      this.handOn(); // a waiter may open a connection in its place
      return;
    }
    c.socket.setTimeout(0);
    c.socket.unref();
    const next = this.waiting.shift();
    if (next) {
      c.socket.ref();
      next(c);
    } else this.idle.push(c);
  }

  /** A connection was given up: the first waiter opens one in its place. */
  private handOn(): void {
    this.waiting.shift()?.(undefined);
  }
}
