// Block files checked whole for the kernel to read (passthrough), each kept
// open on the descriptor the check read: the disk tier may hand one to the
// kernel as a FUSE handle's backing file only while that file is unchanged
// (same inode, size and ctime by fstat — a write or a truncation changes
// them), so what the kernel reads is what was checked. Least recently used
// go first beyond `max`; a block dropped from the tier is forgotten at once.
import { fstatSync, type BigIntStats } from "node:fs";
import type { BlockChecker, CheckTier } from "./block-checker.js";
import type { CheckResult, Expected } from "./check-worker.js";

interface Checked {
  fd: number;
  ino: bigint;
  ctimeNs: bigint;
  length: number;
}

export class CheckedBlocks {
  /** By block hash; Map order is recency, least recent first. */
  private readonly files = new Map<string, Checked>();
  private readonly running = new Map<string, Promise<CheckResult>>();

  constructor(private readonly checker: BlockChecker, private readonly max: number) {}

  /**
   * The descriptor of block `hash` (of `length` bytes) if it was checked and
   * its file has not changed since; synchronous, so the caller can hand it
   * to the kernel before anything can close it (fstat of an open descriptor
   * reads the inode in memory, it does not wait on the disk).
   */
  fd(hash: string, length: number): number | undefined {
    const f = this.files.get(hash);
    if (!f || f.length !== length) return undefined;
    let st: BigIntStats;
    try {
      st = fstatSync(f.fd, { bigint: true });
    } catch {
      this.forget(hash);
      return undefined;
    }
    if (st.ino !== f.ino || st.ctimeNs !== f.ctimeNs || Number(st.size) !== length) {
      this.forget(hash);
      return undefined;
    }
    this.files.delete(hash);
    this.files.set(hash, f);
    return f.fd;
  }

  /** Whether block `hash` was checked as `length` bytes (its file unchanged is fd's to tell, at the handoff). */
  holds(hash: string, length: number): boolean {
    return this.files.get(hash)?.length === length;
  }

  /** Has the file at `path` checked as block `hash` (one check per block at a time, shared; a more pressing ask moves it up). */
  check(hash: string, path: string, expect: Expected, length: number, tier: CheckTier): Promise<CheckResult> {
    const running = this.running.get(hash);
    if (running) {
      if (tier !== "idle") this.checker.hurry(path, tier);
      return running;
    }
    const p: Promise<CheckResult> = this.checker.check({ path, expect, length }, tier).then((r) => {
      if (this.running.get(hash) !== p) {
        // Forgotten while it ran (the block was dropped): its descriptor is of no use.
        if (r.ok) this.checker.closeFds([r.fd]);
        return r.ok ? { ok: false, why: "dropped while checked", bad: false } : r;
      }
      this.running.delete(hash);
      if (r.ok) this.add(hash, { fd: r.fd, ino: r.ino, ctimeNs: r.ctimeNs, length });
      return r;
    });
    this.running.set(hash, p);
    return p;
  }

  private add(hash: string, f: Checked): void {
    this.forget(hash);
    this.files.set(hash, f);
    const old: number[] = [];
    for (const [h, o] of this.files) {
      if (this.files.size <= this.max) break;
      this.files.delete(h);
      old.push(o.fd);
    }
    this.checker.closeFds(old);
  }

  /** The block is gone (or changed): its descriptor is closed, a check under way is disregarded. */
  forget(hash: string): void {
    this.running.delete(hash);
    const f = this.files.get(hash);
    if (!f) return;
    this.files.delete(hash);
    this.checker.closeFds([f.fd]);
  }

  /** Closes every descriptor (the checker closes them, or the event loop once it is closed). */
  closeAll(): void {
    this.checker.closeFds([...this.files.values()].map((f) => f.fd));
    this.files.clear();
    this.running.clear();
  }
}
