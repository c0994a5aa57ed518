import { describe, expect, it } from "vitest";
import { Chunks, copyBytes, sliceBytes } from "../../src/storage/bytes.js";

const whole = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 13) % 251));
const sizes = [1, 64, 200, 0, 35, 300, 400]; // uneven, with an empty chunk, as sockets deliver
function chunked(): Chunks {
  const parts: Buffer[] = [];
  let at = 0;
  for (const n of sizes) {
    parts.push(whole.subarray(at, at + n));
    at += n;
  }
  return new Chunks(parts);
}

describe("Chunks", () => {
  it("copies any range across chunk boundaries exactly like one Buffer", () => {
    const c = chunked();
    expect(c.length).toBe(1000);
    for (const [start, end] of [[0, 1000], [0, 1], [1, 65], [64, 66], [265, 266], [299, 700], [999, 1000], [500, 2000], [1000, 1000]] as const) {
      const want = whole.subarray(start, Math.min(end, 1000));
      const got = Buffer.alloc(want.length + 3, 0xee);
      expect(copyBytes(c, got, 3, start, end)).toBe(want.length);
      expect(got.subarray(3)).toEqual(want);
      expect(got.subarray(0, 3)).toEqual(Buffer.alloc(3, 0xee));
      expect(sliceBytes(c, start, end)).toEqual(want);
    }
    expect(c.toBuffer()).toEqual(whole);
  });

  it("treats a plain Buffer the same way", () => {
    const out = Buffer.alloc(10);
    expect(copyBytes(whole, out, 0, 995, 1005)).toBe(5);
    expect(out.subarray(0, 5)).toEqual(whole.subarray(995));
    expect(sliceBytes(whole, 10, 20)).toEqual(whole.subarray(10, 20));
  });
});
