// An incremental HTTP/1.1 response parser, fed whatever the socket read: the
// head (status line and headers), then the body framed by Content-Length,
// by chunked encoding, or by the connection closing. It exists so the media
// path can hand body bytes straight to its sink: node:http wraps every
// socket read in two streams and their events, which measured here cost
// about as much CPU as everything else a cold copy does in the daemon.
// Whatever the peer sends, it throws ParseError rather than guess.

export class ParseError extends Error {}

export interface ResponseHead {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
}

export interface ParserEvents {
  head(h: ResponseHead): void;
  body(chunk: Buffer): void;
  /** The response is complete; `reusable`: the connection may carry another request. */
  end(reusable: boolean): void;
}

const MAX_HEAD = 64 * 1024;
const MAX_LINE = 1024;
const HEAD_TOO_LONG = `response head over ${MAX_HEAD} bytes`;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

type State = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-crlf" | "trailers" | "close" | "done";

export class ResponseParser {
  private state: State = "head";
  /** Bytes of a head, chunk-size line or trailer not yet complete. */
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private keepAlive = true;

  /** `noBody`: the request was a HEAD (its response has headers only). */
  constructor(private readonly on: ParserEvents, private readonly noBody = false) {}

  get complete(): boolean {
    return this.state === "done";
  }

  /** Body bytes still to come while a body framed by Content-Length is under way; else undefined. */
  get lengthLeft(): number | undefined {
    return this.state === "length" ? this.remaining : undefined;
  }

  /** Parses `data`. Bytes after the end of the response are a protocol error (nothing was pipelined). */
  feed(data: Buffer): void {
    let off = 0;
    while (off < data.length) {
      switch (this.state) {
        case "head":
        case "chunk-size":
        case "trailers": {
          const line = this.state === "head" ? this.take(data, off, "\r\n\r\n", MAX_HEAD, HEAD_TOO_LONG) : this.take(data, off, "\r\n", MAX_LINE, "chunk line too long");
          if (line === undefined) return;
          off = line.next;
          if (this.state === "head") this.onHead(line.text);
          else if (this.state === "chunk-size") this.onChunkSize(line.text);
          else if (line.text === "") this.finish();
          break;
        }
        case "length":
        case "chunk-data": {
          const n = Math.min(this.remaining, data.length - off);
          this.on.body(data.subarray(off, off + n));
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (this.state === "length") this.finish();
            else this.state = "chunk-crlf";
          }
          break;
        }
        case "chunk-crlf": {
          const line = this.take(data, off, "\r\n", MAX_LINE, "chunk line too long");
          if (line === undefined) return;
          if (line.text !== "") throw new ParseError("chunk not followed by CRLF");
          off = line.next;
          this.state = "chunk-size";
          break;
        }
        case "close":
          this.on.body(data.subarray(off));
          return;
        case "done":
          throw new ParseError(`${data.length - off} bytes after the end of the response`);
      }
    }
  }

  /** The peer closed the connection: the end of a body framed by closing; otherwise the response was cut short. */
  closed(): void {
    if (this.state === "close") {
      this.state = "done";
      this.on.end(false);
      return;
    }
    if (this.state !== "done") throw new ParseError(this.state === "head" && this.pending.length === 0 ? "connection closed before a response" : "response cut short");
  }

  /**
   * Text up to `end` (a head's blank line, or a chunk line's CRLF), joined
   * with what earlier reads left, or undefined while it is incomplete; at
   * most `max` bytes (else `tooLong` is thrown).
   */
  private take(data: Buffer, off: number, end: string, max: number, tooLong: string): { text: string; next: number } | undefined {
    const joined = this.pending.length > 0 ? Buffer.concat([this.pending, data.subarray(off)]) : data.subarray(off);
    const at = joined.indexOf(end);
    if (at > max || (at < 0 && joined.length > max)) throw new ParseError(tooLong);
    if (at < 0) {
      this.pending = Buffer.from(joined);
      return undefined;
    }
    const consumed = at + end.length - this.pending.length;
    this.pending = Buffer.alloc(0);
    return { text: joined.toString("latin1", 0, at), next: off + consumed };
  }

  private onHead(text: string): void {
    const lines = text.split("\r\n");
    const m = STATUS_LINE.exec(lines[0]!);
    if (!m) throw new ParseError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const status = Number(m[2]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = colon > 0 ? line.slice(0, colon) : "";
      if (!TOKEN.test(name)) throw new ParseError(`bad header line: ${JSON.stringify(line.slice(0, 80))}`);
      const key = name.toLowerCase();
      const value = line.slice(colon + 1).trim();
      const had = headers.get(key);
      headers.set(key, had === undefined ? value : `${had}, ${value}`);
    }
    if (status >= 100 && status < 200) return; // an interim response: the real one follows (state stays "head")
    const connection = (headers.get("connection") ?? "").toLowerCase().split(",").map((s) => s.trim());
    this.keepAlive = m[1] === "1" ? !connection.includes("close") : connection.includes("keep-alive");
    this.on.head({ status, headers });
    const te = headers.get("transfer-encoding")?.toLowerCase();
    const cl = headers.get("content-length");
    if (this.noBody || status === 204 || status === 304) return this.finish();
    if (te !== undefined) {
      // Chunked must be the last coding; with a Content-Length too, the message is ambiguous (smuggling).
      if (te.split(",").map((s) => s.trim()).pop() !== "chunked" || cl !== undefined) throw new ParseError(`unsupported framing: transfer-encoding ${te}`);
      this.state = "chunk-size";
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw new ParseError(`bad content-length: ${JSON.stringify(cl.slice(0, 40))}`);
      this.remaining = Number(cl);
      this.state = "length";
      if (this.remaining === 0) this.finish();
    } else {
      this.keepAlive = false;
      this.state = "close";
    }
  }

  private onChunkSize(text: string): void {
    const size = text.split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new ParseError(`bad chunk size: ${JSON.stringify(text.slice(0, 40))}`);
    this.remaining = parseInt(size, 16);
    this.state = this.remaining === 0 ? "trailers" : "chunk-data";
  }

  private finish(): void {
    this.state = "done";
    this.on.end(this.keepAlive);
  }
}
