// The block checker's thread (block-checker.ts): reads a block file whole
// and compares each page with the CRC32C its header gave. Blocking reads
// are fine here — this thread serves nothing else — and they keep the CRC
// work off the daemon's event loop, which answers FUSE. Loaded by Node as is
// (also from source, by type stripping), so: erasable syntax only, and no
// imports of the project's own modules.
import { crc32c } from "@node-rs/crc32";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";

export interface CheckRequest {
  id: number;
  path: string;
  length: number;
  pageSize: number;
  crcs: number[];
}

/** ino/ctimeNs: the file the check read, so the caller can tell it is the one it has open. */
export type CheckResult =
  | { ok: true; ino: bigint; ctimeNs: bigint }
  | { ok: false; why: string; ino?: bigint; ctimeNs?: bigint };

export type CheckReply = CheckResult & { id: number };

function check(r: CheckRequest, buf: Buffer): CheckReply {
  let fd: number;
  try {
    fd = openSync(r.path, "r");
  } catch {
    return { id: r.id, ok: false, why: "file missing" };
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    const id = { id: r.id, ino: st.ino, ctimeNs: st.ctimeNs };
    if (Number(st.size) !== r.length) return { ...id, ok: false, why: `file is ${st.size} bytes, expected ${r.length}` };
    for (let page = 0, at = 0; at < r.length; page++, at += r.pageSize) {
      const n = Math.min(r.pageSize, r.length - at);
      if (readSync(fd, buf, 0, n, at) !== n) return { ...id, ok: false, why: "cut short" };
      if (crc32c(buf.subarray(0, n)) >>> 0 !== r.crcs[page]) return { ...id, ok: false, why: "data checksum" };
    }
    // Changed while it was read: what was read says nothing of the file now.
    const after = fstatSync(fd, { bigint: true });
    if (after.ctimeNs !== st.ctimeNs || after.size !== st.size) return { id: r.id, ok: false, why: "changed while checked" };
    return { ...id, ok: true };
  } catch (err) {
    return { id: r.id, ok: false, why: `read failed: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    closeSync(fd);
  }
}

if (parentPort) {
  const port = parentPort;
  let buf = Buffer.alloc(0);
  port.on("message", (r: CheckRequest) => {
    if (buf.length < r.pageSize) buf = Buffer.allocUnsafe(r.pageSize);
    port.postMessage(check(r, buf));
  });
}
