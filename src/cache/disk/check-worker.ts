// The block checker's thread (block-checker.ts). For a block the daemon
// wants to hand to the kernel (passthrough), it opens the file, reads its
// header attribute, reads all of its bytes and compares each page with the
// CRC32C the header gives; a good file's descriptor is handed back open, so
// the daemon's event loop, which answers FUSE, makes no call of its own for
// it. Blocking calls are right here: this thread serves nothing else.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { decodeHeader, pagesIntact } from "./block-file.js";
import { readHeaderAttrSync } from "./header-attr.js";

export type CheckRequest =
  | { op: "check"; id: number; path: string; key: string; length: number }
  /** Descriptors the daemon is done with (it opened none of them itself). */
  | { op: "close"; fds: number[] };

/**
 * ok: the open descriptor of the file as checked, with its inode and ctime
 * (a later fstat that differs means it changed since). Not ok: `bad` when
 * the file is there and wrong (or missing, or unreadable) — the block must
 * go; not bad when it merely changed while it was read.
 */
export type CheckResult =
  | { ok: true; fd: number; ino: bigint; ctimeNs: bigint }
  | { ok: false; why: string; bad: boolean };

export type CheckReply = CheckResult & { id: number };

function check(r: { path: string; key: string; length: number }, buf: { b: Buffer }): CheckResult {
  let fd: number;
  try {
    fd = openSync(r.path, "r");
  } catch (err) {
    // Gone is bad (the index says it is there); out of descriptors, say, says nothing of the block.
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? { ok: false, why: "file missing", bad: true } : { ok: false, why: `cannot open it (${code ?? String(err)})`, bad: false };
  }
  let keep = false;
  try {
    const st = fstatSync(fd, { bigint: true });
    const h = decodeHeader(readHeaderAttrSync(fd), r.key, r.length, Number(st.size));
    if (!h.ok) return { ok: false, why: h.why, bad: true };
    const { pageSize } = h.header;
    if (buf.b.length < pageSize) buf.b = Buffer.allocUnsafe(pageSize);
    for (let at = 0; at < r.length; at += pageSize) {
      const n = Math.min(pageSize, r.length - at);
      if (readSync(fd, buf.b, 0, n, at) !== n) return { ok: false, why: "cut short", bad: true };
      if (!pagesIntact(h.header, at, buf.b.subarray(0, n))) return { ok: false, why: "data checksum", bad: true };
    }
    const after = fstatSync(fd, { bigint: true });
    if (after.ctimeNs !== st.ctimeNs || after.size !== st.size) return { ok: false, why: "changed while checked", bad: false };
    keep = true;
    return { ok: true, fd, ino: st.ino, ctimeNs: st.ctimeNs };
  } catch (err) {
    return { ok: false, why: `read failed: ${err instanceof Error ? err.message : String(err)}`, bad: true };
  } finally {
    if (!keep) closeSync(fd);
  }
}

if (parentPort) {
  const port = parentPort;
  const buf = { b: Buffer.alloc(0) };
  port.on("message", (r: CheckRequest) => {
    if (r.op === "close") {
      for (const fd of r.fds) {
        try {
          closeSync(fd);
        } catch {
          // already closed: nothing to do
        }
      }
      return;
    }
    port.postMessage({ ...check(r, buf), id: r.id } satisfies CheckReply);
  });
}
