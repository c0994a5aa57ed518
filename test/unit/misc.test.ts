import { describe, expect, it } from "vitest";
import { FsError } from "../../src/fs/errors.js";
import { ERRNO, errnoOf } from "../../src/fuse/errno.js";
import { bucketNameProblem } from "../../src/storage/bucket-name.js";
import { NotFoundError, PermissionError, TransientError } from "../../src/storage/errors.js";
import fc from "fast-check";
import { crc32cBase64, crc32cFromBase64, crc32cToBase64 } from "../../src/util/crc32c.js";
import { parseSize } from "../../src/util/size.js";

describe("parseSize", () => {
  it("reads human sizes", () => {
    expect(parseSize("512MiB")).toBe(512 * 2 ** 20);
    expect(parseSize("2G")).toBe(2 * 2 ** 30);
    expect(parseSize("1.5k")).toBe(1536);
    expect(parseSize("64 MB")).toBe(64e6);
    expect(parseSize("4096")).toBe(4096);
    expect(() => parseSize("lots")).toThrow(/not a size/);
    expect(() => parseSize("5 parsecs")).toThrow(/unknown size unit/);
  });
});

describe("bucket names", () => {
  it("follows the GCS rules", () => {
    expect(bucketNameProblem("idc-open-data")).toBeUndefined();
    expect(bucketNameProblem("my_bucket.example")).toBeUndefined();
    expect(bucketNameProblem("Bad")).toBeDefined();
    expect(bucketNameProblem("ab")).toBeDefined();
    expect(bucketNameProblem("-x-")).toBeDefined();
    expect(bucketNameProblem("goog-data")).toBeDefined();
    expect(bucketNameProblem("192.168.1.1")).toBeDefined();
  });
});

describe("errno mapping", () => {
  it("maps typed errors in one place, defaulting to EIO", () => {
    expect(errnoOf(new FsError("EROFS", "x")).errno).toBe(ERRNO.EROFS);
    expect(errnoOf(new NotFoundError("x")).errno).toBe(ERRNO.ENOENT);
    expect(errnoOf(new PermissionError("x")).errno).toBe(ERRNO.EACCES);
    expect(errnoOf(new TransientError("x"))).toEqual({ errno: ERRNO.EIO, expected: false });
    expect(errnoOf(new Error("surprise"))).toEqual({ errno: ERRNO.EIO, expected: false });
    expect(errnoOf("not even an error").errno).toBe(-5);
  });
});

describe("crc32c", () => {
  it("matches the GCS encoding", () => {
    // The well-known CRC32C check value of "123456789" is 0xE3069283.
    expect(crc32cBase64(Buffer.from("123456789"))).toBe(Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString("base64"));
  });

  it("turns a CRC into GCS's base64 and back by table, as Node's base64 does", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (v) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v);
      expect(crc32cToBase64(v)).toBe(b.toString("base64"));
      expect(crc32cFromBase64(b.toString("base64"))).toBe(v);
    }), { numRuns: 20_000 });
    for (const v of [0, 1, 2 ** 32 - 1, 0xe3069283]) expect(crc32cFromBase64(crc32cToBase64(v))).toBe(v);
    // Not 4 bytes: no CRC (the reader then checks nothing against it, as before).
    for (const bad of ["", "AAAA", "AAAAAAA=", "AAAAA===", "AAAAAAAA", "AA*AAA==", "AAAAAAAAAAA="]) expect(crc32cFromBase64(bad), bad).toBeUndefined();
  });
});
