import { mkdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listObjects } from "../../src/emulator/list.js";
import { parseRange } from "../../src/emulator/media.js";
import { BucketTable, type StoredObject } from "../../src/emulator/object-table.js";
import { parseRoute } from "../../src/emulator/server.js";
import { EmulatorStore } from "../../src/emulator/store.js";
import { splitMultipart } from "../../src/emulator/uploads.js";
import { tempDir } from "../helpers/files.js";

function table(names: string[]): BucketTable {
  const t = new BucketTable("b");
  for (const name of names) {
    const o: StoredObject = {
      name, size: 1, generation: "1", metageneration: "1", md5Hash: "", crc32c: "",
      contentType: "x", timeCreated: new Date(0), updated: new Date(0), bytes: { kind: "memory", data: Buffer.from("x") },
    };
    t.put(o);
  }
  return t;
}

describe("emulator objects.list", () => {
  it("sorts by UTF-8 byte order, not UTF-16", () => {
    const t = table(["\u{1F600}", "\uFF5E", "a"]);
    // U+FF5E is EF BD 9E; U+1F600 is F0 9F 98 80: bytes put the emoji last.
    expect(listObjects(t, {}).items.map((o) => o.name)).toEqual(["a", "\uFF5E", "\u{1F600}"]);
  });

  it("groups by delimiter and counts items and prefixes together in pages", () => {
    const names = ["d/a", "d/b/1", "d/b/2", "d/c", "d/e/1", "d/f", "e"];
    const t = table(names);
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const r = listObjects(t, { prefix: "d/", delimiter: "/", maxResults: 2, ...(pageToken ? { pageToken } : {}) });
      expect(r.items.length + r.prefixes.length).toBeLessThanOrEqual(2);
      seen.push(...r.items.map((o) => o.name), ...r.prefixes);
      pageToken = r.nextPageToken;
      pages++;
    } while (pageToken);
    expect(seen.sort()).toEqual(["d/a", "d/b/", "d/c", "d/e/", "d/f"]);
    expect(pages).toBe(3);
  });

  it("honours startOffset, endOffset and includeTrailingDelimiter", () => {
    const t = table(["a", "b", "c/", "c/x", "d"]);
    expect(listObjects(t, { startOffset: "b", endOffset: "d" }).items.map((o) => o.name)).toEqual(["b", "c/", "c/x"]);
    const r = listObjects(t, { delimiter: "/", includeTrailingDelimiter: true });
    expect(r.prefixes).toEqual(["c/"]);
    expect(r.items.map((o) => o.name)).toEqual(["a", "b", "c/", "d"]);
    expect(listObjects(t, { delimiter: "/" }).items.map((o) => o.name)).toEqual(["a", "b", "d"]);
  });

  it("caps maxResults at 1000", () => {
    const t = table(Array.from({ length: 1500 }, (_, i) => `o${String(i).padStart(4, "0")}`));
    const r = listObjects(t, { maxResults: 5000 });
    expect(r.items).toHaveLength(1000);
    expect(r.nextPageToken).toBeDefined();
    expect(listObjects(t, { pageToken: r.nextPageToken! }).items).toHaveLength(500);
  });
});

describe("emulator media and uploads", () => {
  it("parses ranges, suffix ranges and unsatisfiable ones", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=50-500", 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange("bytes=100-", 100)).toBeNull();
    expect(parseRange(undefined, 100)).toBeUndefined();
  });

  it("splits multipart bodies with CRLF, LF, and parts without headers", () => {
    const crlf = Buffer.from('--xx\r\nContent-Type: application/json\r\n\r\n{"name":"a"}\r\n--xx\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xx--\r\n');
    const lf = Buffer.from('--xx\nContent-Type: application/json\n\n{"name":"a"}\n--xx\n\nhello\n\n--xx--\n');
    for (const [body, media] of [[crlf, "hello"], [lf, "hello\n"]] as const) {
      const parts = splitMultipart(body, "xx");
      expect(parts).toHaveLength(2);
      expect(JSON.parse(parts[0]!.body.toString())).toEqual({ name: "a" });
      expect(parts[1]!.body.toString()).toBe(media);
    }
  });

  it("routes every path form to bucket and object", () => {
    expect(parseRoute("/storage/v1/b/bk/o/a%2Fb%20c")).toEqual({ kind: "api", bucket: "bk", object: "a/b c", collection: false });
    expect(parseRoute("/b/bk/o")).toEqual({ kind: "api", bucket: "bk", collection: true });
    expect(parseRoute("/download/storage/v1/b/bk/o/x")).toMatchObject({ kind: "download", object: "x" });
    expect(parseRoute("/resumable/upload/storage/v1/b/bk/o")).toMatchObject({ kind: "upload", bucket: "bk", collection: true });
    expect(parseRoute("/upload/b/bk/o")).toMatchObject({ kind: "upload", collection: true });
    expect(parseRoute("/nothing")).toBeUndefined();
  });
});

describe("emulator seeding", () => {
  it("gives files that share an mtime the same generations on every start (disk-tier keys survive an emulator restart)", async () => {
    const dir = await tempDir("seed-generations");
    const when = new Date("2026-01-02T03:04:05.678Z");
    // Sizes that make the hashes finish in a different order from the names.
    const names = Array.from({ length: 24 }, (_, i) => `s/${String(i).padStart(2, "0")}.dcm`);
    await mkdir(join(dir, "s"));
    for (const [i, n] of names.entries()) {
      await writeFile(join(dir, n), Buffer.alloc(((i * 7) % 24) * 64 * 1024 + 1, i));
      await utimes(join(dir, n), when, when);
    }
    const generations = async (): Promise<string[]> => {
      const store = await EmulatorStore.create();
      try {
        await store.seed("b", dir);
        return names.map((n) => store.bucket("b").get(n)!.generation);
      } finally {
        await store.close();
      }
    };
    const first = await generations();
    expect(new Set(first).size).toBe(names.length); // distinct, though every mtime is the same
    expect(first).toEqual([...first].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))); // in name order
    for (let i = 0; i < 3; i++) expect(await generations()).toEqual(first);
  });
});
