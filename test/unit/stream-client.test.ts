// The media path's HTTP/1.1 client: its parser against every way a response
// can be split across reads and against malformed or hostile responses, and
// the client against a real loopback server (keep-alive reuse, a connection
// closed while idle, a body cut short, the idle timeout, backpressure, the
// connection cap).
import { randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HttpTransportError } from "../../src/util/http-client.js";
import { ParseError, ResponseParser, type ResponseHead } from "../../src/util/http1/response-parser.js";
import { BODY_PAGE, BodyPages } from "../../src/util/http1/body-pages.js";
import { StreamClient } from "../../src/util/http1/stream-client.js";

interface Parsed {
  heads: ResponseHead[];
  body: Buffer;
  ends: boolean[];
}

function parse(pieces: Buffer[], close = false): Parsed {
  const out: Parsed = { heads: [], body: Buffer.alloc(0), ends: [] };
  const chunks: Buffer[] = [];
  const p = new ResponseParser({ head: (h) => out.heads.push(h), body: (c) => chunks.push(Buffer.from(c)), end: (r) => out.ends.push(r) });
  for (const piece of pieces) p.feed(piece);
  if (close) p.closed();
  out.body = Buffer.concat(chunks);
  return out;
}

/** Every split of `wire` into two reads, and one read per byte. */
function splits(wire: Buffer): Buffer[][] {
  const out: Buffer[][] = [[wire], [...wire].map((b) => Buffer.from([b]))];
  for (let i = 1; i < wire.length; i++) out.push([wire.subarray(0, i), wire.subarray(i)]);
  return out;
}

describe("ResponseParser", () => {
  const body = randomBytes(3000);

  it("reads a Content-Length body however the reads split it, after an interim 100", () => {
    const wire = Buffer.concat([
      Buffer.from("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 206 Partial Content\r\nContent-Length: 3000\r\nX-Goog-Hash: crc32c=AAAAAA==\r\nx-goog-hash: md5=x\r\n\r\n"),
      body,
    ]);
    for (const pieces of splits(wire)) {
      const r = parse(pieces);
      expect(r.heads).toHaveLength(1);
      expect(r.heads[0]!.status).toBe(206);
      expect(r.heads[0]!.headers.get("x-goog-hash")).toBe("crc32c=AAAAAA==, md5=x");
      expect(r.body.equals(body)).toBe(true);
      expect(r.ends).toEqual([true]);
    }
  });

  it("reads a chunked body (extensions, trailers) however the reads split it", () => {
    const wire = Buffer.concat([
      Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
      Buffer.from("7d0;ext=1\r\n"), body.subarray(0, 2000), Buffer.from("\r\n"),
      Buffer.from("3E8\r\n"), body.subarray(2000), Buffer.from("\r\n"),
      Buffer.from("0\r\nX-Trailer: t\r\n\r\n"),
    ]);
    for (const pieces of splits(wire)) {
      const r = parse(pieces);
      expect(r.body.equals(body)).toBe(true);
      expect(r.ends).toEqual([true]);
    }
  });

  it("reads a body framed by the close, and says the connection can't be reused", () => {
    const r = parse([Buffer.from("HTTP/1.1 200 OK\r\n\r\nabc"), Buffer.from("def")], true);
    expect(r.body.toString()).toBe("abcdef");
    expect(r.ends).toEqual([false]);
  });

  it("says whether the connection can be reused", () => {
    expect(parse([Buffer.from("HTTP/1.1 204 No Content\r\n\r\n")]).ends).toEqual([true]);
    expect(parse([Buffer.from("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")]).ends).toEqual([false]);
    expect(parse([Buffer.from("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")]).ends).toEqual([false]);
    expect(parse([Buffer.from("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")]).ends).toEqual([true]);
  });

  it("throws on malformed or ambiguous responses rather than guess", () => {
    const bad = [
      "HTTP/2 200 OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", // smuggling shape
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", // a byte after the end
    ];
    for (const wire of bad) expect(() => parse([Buffer.from(wire)]), wire).toThrow(ParseError);
    expect(() => parse([Buffer.from(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(70_000)}`)])).toThrow(/head over/);
    expect(() => parse([Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${"1".repeat(2000)}`)])).toThrow(/chunk line too long/);
    expect(() => parse([Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")], true)).toThrow(/cut short/);
    expect(() => parse([], true)).toThrow(/closed before a response/);
  });
});

describe("BodyPages", () => {
  it("hands out room that never crosses a page or the body's end, and copies across pages", () => {
    const body = randomBytes(BODY_PAGE + 10);
    const pages = new BodyPages(body.length);
    const first = pages.append(body.subarray(0, 100));
    const room = pages.room(body.length - 100);
    expect(room.length).toBe(BODY_PAGE - 100);
    body.copy(room, 0, 100, 100 + 50_000);
    const second = pages.commit(50_000);
    const rest = pages.append(body.subarray(50_100));
    expect(rest.map((p) => p.length)).toEqual([BODY_PAGE - 50_100, 10]);
    expect(rest[1]!.buffer.byteLength).toBe(10);
    expect(Buffer.concat([...first, second, ...rest]).equals(body)).toBe(true);
    expect(second.buffer).toBe(first[0]!.buffer);
  });

  it("without a length, makes pages the size of what it is given", () => {
    const pages = new BodyPages(undefined);
    const [a] = pages.append(Buffer.from("abc"));
    const [b] = pages.append(Buffer.from("defg"));
    expect([a!.toString(), b!.toString()]).toEqual(["abc", "defg"]);
    expect([a!.buffer.byteLength, b!.buffer.byteLength]).toEqual([3, 4]);
  });
});

describe("StreamClient", () => {
  const servers: net.Server[] = [];
  const clients: StreamClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  });

  /** A loopback server; `sockets` counts the connections it accepted. */
  async function serve(handler: http.RequestListener): Promise<{ url: string; server: http.Server; sockets: net.Socket[] }> {
    const server = http.createServer({ keepAliveTimeout: 60_000 }, handler);
    const sockets: net.Socket[] = [];
    server.on("connection", (s: net.Socket) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, sockets };
  }

  const client = (url: string, max?: number): StreamClient => {
    const c = new StreamClient(url, max);
    clients.push(c);
    return c;
  };

  const collect = async (c: StreamClient, path: string): Promise<{ status: number; body: Buffer }> => {
    const res = await c.get({ path, headers: {}, idleTimeoutMs: 5_000 });
    const parts: Buffer[] = [];
    await res.pipe((b) => void parts.push(Buffer.from(b)));
    return { status: res.status, body: Buffer.concat(parts) };
  };

  it("reuses one connection for requests in turn, and sends the path and headers as given", async () => {
    const data = randomBytes(200_000);
    const seen: string[] = [];
    const { url, sockets } = await serve((req, res) => {
      seen.push(`${req.url} ${req.headers.range ?? ""}`);
      res.end(data);
    });
    const c = client(`${url}/base/`);
    for (let i = 0; i < 5; i++) {
      const res = await c.get({ path: `/o/${i}`, headers: { range: "bytes=0-9" }, idleTimeoutMs: 5_000 });
      const parts: Buffer[] = [];
      expect(await res.pipe((b) => void parts.push(Buffer.from(b)))).toBe(data.length);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `/base/o/${i} bytes=0-9`));
    expect(sockets).toHaveLength(1);
  });

  it("sends a request again on a fresh connection when the kept-alive one closes under it unanswered", async () => {
    // The race a keep-alive client lives with: the server drops an idle connection just as a request is
    // written to it. Here the first connection answers once and then closes on the next request.
    let connections = 0;
    const server = net.createServer((sock) => {
      const first = connections++ === 0;
      let requests = 0;
      sock.on("data", () => {
        if (first && requests++ === 1) sock.destroy();
        else sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    const c = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    expect((await collect(c, "/a")).body.toString()).toBe("ok");
    expect((await collect(c, "/b")).body.toString()).toBe("ok");
    expect(connections).toBe(2);
    // A fresh connection that closes unanswered is not retried: that is the server's answer.
    const refusing = net.createServer((sock) => sock.on("data", () => sock.destroy()));
    await new Promise<void>((r) => refusing.listen(0, "127.0.0.1", r));
    servers.push(refusing);
    const d = client(`http://127.0.0.1:${(refusing.address() as AddressInfo).port}`);
    await expect(d.get({ path: "/", headers: {}, idleTimeoutMs: 5_000 })).rejects.toThrow(/connection closed before a response/);
  });

  it("fails a body cut short with a transport error, and the next request works", async () => {
    let n = 0;
    const { url } = await serve((_req, res) => {
      if (n++ === 0) {
        res.writeHead(200, { "content-length": "100000" });
        res.write(Buffer.alloc(1000));
        setTimeout(() => res.socket!.destroy(), 20);
      } else res.end("fine");
    });
    const c = client(url);
    const res = await c.get({ path: "/", headers: {}, idleTimeoutMs: 5_000 });
    const err = await res.pipe(() => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpTransportError);
    expect((err as Error).message).toMatch(/body cut short/);
    expect((await collect(c, "/")).body.toString()).toBe("fine");
  });

  it("gives up on a connection silent past the idle timeout", async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { "content-length": "10" });
      res.write("12345"); // and nothing more
    });
    const c = client(url);
    const res = await c.get({ path: "/", headers: {}, idleTimeoutMs: 200 });
    const err = await res.pipe(() => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpTransportError);
    expect((err as HttpTransportError).code).toBe("ETIMEDOUT");
  });

  it("keeps a body that trickles in for longer than the idle timeout: every read counts", async () => {
    const body = randomBytes(10 * 1_000);
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { "content-length": String(body.length) });
      let i = 0;
      const next = (): void => {
        res.write(body.subarray(i * 1_000, (i + 1) * 1_000));
        if (++i < 10) setTimeout(next, 60);
        else res.end();
      };
      next();
    });
    const c = client(url);
    const res = await c.get({ path: "/", headers: {}, idleTimeoutMs: 200 }); // 10 pieces 60 ms apart: 540 ms in all
    const parts: Buffer[] = [];
    expect(await res.pipe((b) => void parts.push(b))).toBe(body.length);
    expect(Buffer.concat(parts).equals(body)).toBe(true);
  });

  it("holds the socket while the sink's promise is pending, and delivers every byte in order", async () => {
    const data = randomBytes(4 * 2 ** 20);
    const { url } = await serve((_req, res) => res.end(data));
    const c = client(url);
    const res = await c.get({ path: "/", headers: {}, idleTimeoutMs: 5_000 });
    const parts: Buffer[] = [];
    let inSink = 0;
    let overlapped = false;
    const n = await res.pipe(async (b) => {
      if (inSink > 0) overlapped = true;
      inSink++;
      parts.push(Buffer.from(b));
      await new Promise((r) => setTimeout(r, 1));
      inSink--;
    });
    expect(n).toBe(data.length);
    expect(overlapped).toBe(false);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it("reads bodies into page Buffers of their own, starting at the body's first byte, which later reads never overwrite", async () => {
    // Each response's head and first body bytes come in one write (they land in the scratch every
    // connection shares, and are copied out); the rest is read in place. The views handed out are
    // kept, not copied, across three responses on different connections, then compared.
    const sizes = [BODY_PAGE * 2 + 1_000, 100_000, BODY_PAGE];
    const bodies = sizes.map((n) => randomBytes(n));
    const server = net.createServer((sock) => {
      sock.once("data", (req) => {
        const body = bodies[Number(/GET \/(\d)/.exec(req.toString())![1])]!;
        sock.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body.subarray(0, 5_000)]));
        // The rest in pieces that do not line up with pages.
        let at = 5_000;
        const more = (): void => {
          if (at >= body.length) return;
          sock.write(body.subarray(at, at + 70_001));
          at += 70_001;
          setImmediate(more);
        };
        setImmediate(more);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    const c = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const views = await Promise.all(sizes.map(async (_, i) => {
      const res = await c.get({ path: `/${i}`, headers: {}, idleTimeoutMs: 5_000 });
      const parts: Buffer[] = [];
      await res.pipe((b) => void parts.push(b));
      return parts;
    }));
    // Only what came with each head was copied (at most one scratch's worth, 64 KiB).
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(c.stats.inPlace + c.stats.copied).toBe(total);
    expect(c.stats.copied).toBeLessThanOrEqual(3 * 64 * 1024);
    views.forEach((parts, i) => {
      expect(Buffer.concat(parts).equals(bodies[i]!)).toBe(true);
      // One ArrayBuffer per page: page k of the body starts at offset 0 of its own buffer.
      const buffers = [...new Set(parts.map((p) => p.buffer))];
      expect(buffers.map((b) => b.byteLength)).toEqual(i === 0 ? [BODY_PAGE, BODY_PAGE, 1_000] : [sizes[i]]);
      let at = 0;
      for (const p of parts) {
        expect(p.byteOffset).toBe(at % BODY_PAGE);
        at += p.length;
      }
    });
  });

  it("opens at most its cap of connections, and queues the rest", async () => {
    const { url, sockets } = await serve((_req, res) => setTimeout(() => res.end("x"), 20));
    const c = client(url, 4);
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => collect(c, `/${i}`)));
    expect(all.map((r) => r.body.toString()).join("")).toBe("x".repeat(20));
    expect(sockets.length).toBeLessThanOrEqual(4);
  });

  it("passes a non-2xx answer up with its body, and refuses a header with a line break", async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"error":{"message":"No such object"}}');
    });
    const c = client(url);
    const res = await c.get({ path: "/", headers: {}, idleTimeoutMs: 5_000 });
    expect(res.status).toBe(404);
    expect((await res.text()).toString()).toContain("No such object");
    await expect(c.get({ path: "/", headers: { x: "a\r\nInjected: 1" }, idleTimeoutMs: 5_000 })).rejects.toThrow(/line break/);
  });

  it("reports a refused connection by its code", async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = client(`http://127.0.0.1:${port}`);
    const err = await c.get({ path: "/", headers: {}, idleTimeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpTransportError);
    expect((err as HttpTransportError).code).toBe("ECONNREFUSED");
  });
});
