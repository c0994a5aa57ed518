// The disk tier's reused page buffers: a fixed number of buffers however many
// pages go through them, a page held is not read again, a page being read is
// waited for rather than read twice, and a failed read is never served.
import { describe, expect, it } from "vitest";
import { PageBuffers } from "../../src/cache/disk/page-buffers.js";

const fillWith = (v: number, log: string[], key: string) => async (into: Buffer): Promise<boolean> => {
  log.push(key);
  await new Promise((r) => setImmediate(r));
  into.fill(v);
  return true;
};

describe("PageBuffers", () => {
  it("reads each page once while held, in at most `slots` buffers however many pages pass", async () => {
    const pages = new PageBuffers(16, 4);
    const reads: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let p = 0; p < 50; p++) {
        const got = await pages.use(`p${p}`, 16, fillWith(p, reads, `p${p}`), (b) => [...b]);
        expect(got).toEqual(Array(16).fill(p));
        // The other half of a FUSE read: the same page again, not read again.
        expect(await pages.use(`p${p}`, 16, fillWith(255, reads, `again p${p}`), (b) => b[0])).toBe(p);
      }
    }
    expect(reads.filter((r) => r.startsWith("again"))).toEqual([]);
    expect(reads).toHaveLength(150);
    expect(pages.allocated).toBe(4);
  });

  it("lets concurrent readers of one page share its read, and keeps pages in use apart", async () => {
    const pages = new PageBuffers(8, 2);
    const reads: string[] = [];
    // Ten readers of four pages at once: more pages in flight than slots.
    const got = await Promise.all(Array.from({ length: 10 }, (_, i) => pages.use(`p${i % 4}`, 8, fillWith(i % 4, reads, `p${i % 4}`), (b) => [...b])));
    got.forEach((g, i) => expect(g).toEqual(Array(8).fill(i % 4)));
    expect(new Set(reads).size).toBe(4);
    expect(reads).toHaveLength(4);
    expect(pages.allocated).toBe(2); // more while they were all being read, back to two after
  });

  it("serves nothing for a page whose read failed, and reads it again next time", async () => {
    const pages = new PageBuffers(8, 2);
    expect(await pages.use("bad", 8, async () => false, () => "served")).toBeUndefined();
    expect(await pages.use("bad", 8, async () => { throw new Error("EIO"); }, () => "served")).toBeUndefined();
    const reads: string[] = [];
    expect(await pages.use("bad", 8, fillWith(7, reads, "bad"), (b) => b[3])).toBe(7);
    expect(reads).toEqual(["bad"]);
  });
});
