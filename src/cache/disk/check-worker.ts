// The block checker's thread (block-checker.ts). For a block the daemon
// wants to hand to the kernel (passthrough), it opens the file, reads its
// header attribute, reads all of its bytes and compares each page with the
// CRC32C the header gives; a good file's descriptor is handed back open, so
// the daemon's event loop, which answers FUSE, makes no call of its own for
// it. Blocking calls are right here: this thread serves nothing else.
import { hash as digest } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { OTHER_KIND, decodeHeader, headerKey, pagesIntact } from "./block-file.js";
import { readHeaderAttrSync } from "./header-attr.js";

/**
 * What the file must be: the block `key`, or — for a block known only by its
 * file (the checks ahead of a remount's first reads) — whichever block its
 * header names, provided the key's SHA-256 is the file's name (`hash`) and
 * its block field is `block` (a whole object, not an extent).
 */
export type Expected = { key: string } | { hash: string; block: string };

export type CheckRequest =
  | { op: "check"; id: number; path: string; expect: Expected; length: number }
  /** Descriptors the daemon is done with (it opened none of them itself). */
  | { op: "close"; fds: number[] }
  /** The checker is closing: end the thread (see BlockChecker.close). */
  | { op: "exit" };

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

/** The block field of a key (generation \0 block \0 name; cache/block-cache.ts). */
function blockOf(key: string): string | undefined {
  const a = key.indexOf("\u0000");
  const b = key.indexOf("\u0000", a + 1);
  return a < 0 || b < 0 ? undefined : key.slice(a + 1, b);
}

/** The key the file must have, or why it is not worth checking (`bad` if the file is wrong). */
function expectedKey(expect: Expected, head: Buffer | undefined): string | { why: string; bad: boolean } {
  if ("key" in expect) return expect.key;
  const key = headerKey(head);
  if (key === undefined) return { why: "no intact header", bad: true };
  if (digest("sha256", key) !== expect.hash) return { why: "another block's file", bad: true };
  if (blockOf(key) !== expect.block) return { why: OTHER_KIND, bad: false };
  return key;
}

function check(r: { path: string; expect: Expected; length: number }, buf: { b: Buffer }): CheckResult {
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
    const head = readHeaderAttrSync(fd);
    const key = expectedKey(r.expect, head);
    if (typeof key !== "string") return { ok: false, ...key };
    const h = decodeHeader(head, key, r.length, Number(st.size));
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
    if (r.op === "exit") {
      port.close(); // nothing else keeps the thread: it ends
      return;
    }
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
