// One block streamed straight to its file as the bytes arrive (the
// background fill), instead of gathered in memory first: the data goes in
// 1 MiB at a time, its page CRC32Cs computed on the way; the header (an
// attribute of the file, header-attr.ts) goes on last, and the file is
// renamed into place only when every byte has arrived. A download that fails starts the file over
// (restart); one given up leaves nothing behind (abort).
import { open as openFile, rm, type FileHandle } from "node:fs/promises";
import { headerOf, PageCrcs } from "./block-file.js";
import { writeHeaderAttr } from "./header-attr.js";

const FLUSH_BYTES = 2 ** 20;

export class BlockWriter {
  private fh: FileHandle | undefined;
  private crcs: PageCrcs;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Bytes received (buffered or written). */
  private received = 0;
  /** Bytes written to the file. */
  private written = 0;
  private settled = false;

  /**
   * `place(temp)` puts the finished file where the cache reads it.
   * `done(ok)` is called exactly once: after the file is in place, or after
   * it was given up. `closed()` says the cache is shutting down.
   */
  constructor(
    private readonly key: string,
    readonly length: number,
    private readonly pageSize: number,
    private readonly temp: string,
    private readonly place: (temp: string) => Promise<void>,
    private readonly done: (ok: boolean) => Promise<void>,
    private readonly closed: () => boolean,
  ) {
    this.crcs = new PageCrcs(pageSize);
  }

  async append(chunk: Buffer): Promise<void> {
    if (this.closed()) throw new Error("disk cache closed");
    if (this.received + chunk.length > this.length) throw new Error(`more bytes than the ${this.length} expected`);
    this.crcs.add(chunk);
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.received += chunk.length;
    if (this.bufferedBytes >= FLUSH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.bufferedBytes === 0) return;
    this.fh ??= await openFile(this.temp, "w");
    const parts = this.buffered;
    const n = this.bufferedBytes;
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.fh.writev(parts, this.written);
    this.written += n;
  }

  /** Starts over: the next byte appended is the block's first again. */
  async restart(): Promise<void> {
    this.crcs = new PageCrcs(this.pageSize);
    this.buffered = [];
    this.bufferedBytes = 0;
    this.received = 0;
    this.written = 0;
  }

  /** Writes the header and puts the file in place; throws (the caller aborts) if bytes are missing. */
  async commit(): Promise<void> {
    if (this.received !== this.length) throw new Error(`got ${this.received} of ${this.length} bytes`);
    if (this.closed()) throw new Error("disk cache closed");
    await this.flush();
    this.fh ??= await openFile(this.temp, "w");
    await writeHeaderAttr(this.fh.fd, headerOf(this.key, this.length, this.pageSize, this.crcs.finish()));
    await this.fh.close();
    this.fh = undefined;
    await this.place(this.temp);
    this.settled = true;
    await this.done(true);
  }

  /** Gives the block up: nothing of it is left on disk. */
  async abort(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.fh?.close().catch(() => undefined);
    await rm(this.temp, { force: true });
    await this.done(false);
  }
}
