// Passthrough's table: the kernel fails an open (EIO) that mixes a
// passthrough handle with an ordinary one on the same file, or two backing
// files on it; this table keeps each path in one mode at a time and lets a
// backing file go when its last handle is released. The kernel's side is
// shown through a real mount in test/e2e/disk-tier.test.ts.
import { describe, expect, it } from "vitest";
import { Passthrough, type BackingTarget } from "../../src/fuse/passthrough.js";
import { MemoryLogger } from "../../src/util/log.js";

class FakeKernel implements BackingTarget {
  next = 1;
  readonly open = new Map<number, number>();
  readonly closed: number[] = [];
  refuse = 0;
  agreed = true;
  passthrough(): boolean {
    return this.agreed;
  }
  backingOpen(fd: number): number {
    if (this.refuse) return -this.refuse;
    const id = this.next++;
    this.open.set(id, fd);
    return id;
  }
  backingClose(id: number): number {
    this.open.delete(id);
    this.closed.push(id);
    return 0;
  }
}

function table(): { pt: Passthrough; kernel: FakeKernel; log: MemoryLogger } {
  const log = new MemoryLogger();
  const pt = new Passthrough(log);
  const kernel = new FakeKernel();
  pt.attach(kernel);
  return { pt, kernel, log };
}

describe("Passthrough", () => {
  it("opens of a path passing through share one backing file, closed after the last release", () => {
    const { pt, kernel } = table();
    expect(pt.wants("/a")).toBe(true);
    const id = pt.opened("/a", 1, 40);
    expect(id).toBeGreaterThan(0);
    expect(pt.wants("/a")).toBe(false); // nothing more to look for: the next opens share it
    expect(pt.opened("/a", 2, undefined)).toBe(id);
    expect(pt.opened("/a", 3, 41)).toBe(id);
    expect(kernel.open.size).toBe(1);
    expect(pt.stats()).toEqual({ opens: 3, files: 1 });
    pt.released(1);
    pt.released(3);
    expect(kernel.closed).toEqual([]);
    pt.released(2);
    expect(kernel.closed).toEqual([id]);
    expect(pt.stats().files).toBe(0);
    expect(pt.wants("/a")).toBe(true);
  });

  it("a path with an ordinary open gets ordinary opens until all of them are released", () => {
    const { pt, kernel } = table();
    expect(pt.opened("/b", 1, undefined)).toBe(0); // not checked yet: the ordinary way
    expect(pt.wants("/b")).toBe(false);
    expect(pt.opened("/b", 2, 50)).toBe(0); // a checked file now, but /b is open through the page cache
    expect(kernel.open.size).toBe(0);
    pt.released(1);
    expect(pt.opened("/b", 3, 50)).toBe(0);
    pt.released(2);
    pt.released(3);
    expect(pt.wants("/b")).toBe(true);
    expect(pt.opened("/b", 4, 50)).toBeGreaterThan(0);
    expect(pt.stats().opens).toBe(1);
  });

  it("falls back to ordinary opens, with one warning, when the kernel refuses a backing file", () => {
    const { pt, kernel, log } = table();
    kernel.refuse = 24; // EMFILE: may pass
    expect(pt.opened("/c", 1, 60)).toBe(0);
    expect(pt.active()).toBe(true);
    kernel.refuse = 1; // EPERM: a daemon without CAP_SYS_ADMIN, for good — nothing is prepared for passthrough any more
    expect(pt.opened("/d", 2, 61)).toBe(0);
    expect(pt.active()).toBe(false);
    expect(pt.wants("/x")).toBe(false);
    expect(log.lines.filter((l) => l.includes("passthrough"))).toHaveLength(1);
    pt.released(1);
    pt.released(2);
    expect(pt.stats()).toEqual({ opens: 0, files: 0 });
  });

  it("looks for nothing before the binding is attached, or when the kernel did not agree at init", () => {
    const pt = new Passthrough(new MemoryLogger());
    expect(pt.wants("/e")).toBe(false);
    expect(pt.opened("/e", 1, 70)).toBe(0);
    const { pt: pt2, kernel } = table();
    kernel.agreed = false;
    expect(pt2.wants("/e")).toBe(false);
  });

  it("pins a backing id for a path the binding answers: shared with JavaScript's opens, refused beside an ordinary open, let go after the last", () => {
    const { pt, kernel, log } = table();
    const id = pt.pin("/s/a", 40);
    expect(id).toBeGreaterThan(0);
    expect(pt.pin("/s/a", 41)).toBe(id); // a second registration shares it
    expect(pt.opened("/s/a", 5)).toBe(id); // so does an open JavaScript answers (no file of its own)
    pt.nativeOpened();
    expect(pt.stats()).toEqual({ opens: 2, files: 1 });
    pt.unpin("/s/a");
    pt.unpin("/s/a");
    expect(kernel.closed).toEqual([]); // the open handle still uses it
    pt.released(5);
    expect(kernel.closed).toEqual([id]);
    // A path open the ordinary way cannot pass through: no pin.
    expect(pt.opened("/s/b", 6)).toBe(0);
    expect(pt.pin("/s/b", 42)).toBe(0);
    pt.released(6);
    expect(pt.pin("/s/b", 42)).toBeGreaterThan(0);
    // Refused for lack of privilege (EPERM), as for an open: said once, and passthrough is off for good.
    kernel.refuse = 1;
    expect(pt.pin("/s/d", 44)).toBe(0);
    expect(pt.active()).toBe(false);
    expect(log.lines.filter((l) => l.includes("refused a backing file"))).toHaveLength(1);
    kernel.refuse = 0;
    kernel.agreed = false;
    expect(pt.pin("/s/c", 43)).toBe(0); // passthrough off
  });
});
