// listFast must return exactly what listAll does, whatever the names, and
// for the real client against the emulator as for the in-memory store.
import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { GcsObjectStore } from "../../src/storage/gcs/gcs-object-store.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import type { ListOptions, ObjectStore } from "../../src/storage/object-store.js";
import { listAll, listFast, splitPoints } from "../../src/storage/paging.js";
import { startEmulator } from "../helpers/emulator.js";
import { tempDir } from "../helpers/files.js";

const SETS: Record<string, string[]> = {
  uuids: Array.from({ length: 2500 }, () => `d/${randomUUID()}.dcm`),
  dicomUids: Array.from({ length: 2300 }, (_, i) => `d/1.2.826.0.1.3680043.10.1234.2.1.${i + 1}.dcm`),
  nested: [
    ...Array.from({ length: 1500 }, (_, i) => `d/${String(i).padStart(5, "0")}`),
    ...Array.from({ length: 30 }, (_, i) => `d/sub${i}/a`), ...Array.from({ length: 30 }, (_, i) => `d/sub${i}/zz`),
    "d/ü-unicode", "d/~tilde", "d/\u00ff", "d/日本",
  ],
};

const EMULATOR_NAMES = [...SETS.uuids!.slice(0, 1200), ...SETS.nested!];
let emu: Emulator;
beforeAll(async () => {
  const dir = await tempDir("paging");
  for (const n of EMULATOR_NAMES) {
    await mkdir(join(dir, n, ".."), { recursive: true });
    await writeFile(join(dir, n), "x");
  }
  emu = await startEmulator({ buckets: { paging: dir } });
});
afterAll(async () => emu?.close());

async function compare(store: ObjectStore, opts: ListOptions): Promise<number> {
  const [a, b] = await Promise.all([listAll(store, opts), listFast(store, opts)]);
  expect(b.objects.map((o) => o.name)).toEqual(a.objects.map((o) => o.name));
  expect(b.prefixes).toEqual(a.prefixes);
  return a.objects.length + a.prefixes.length;
}

describe("listFast", () => {
  for (const [label, names] of Object.entries(SETS)) {
    it(`lists ${label} exactly like listAll (memory store)`, async () => {
      const m = new MemoryObjectStore();
      for (const n of names) m.put(n, "x");
      const total = await compare(m, { prefix: "d/", delimiter: "/" });
      expect(total).toBeGreaterThan(1000);
      await compare(m, { prefix: "d/" });
      const before = m.calls.list;
      await listFast(m, { prefix: "d/", delimiter: "/" });
      expect(m.calls.list - before).toBeGreaterThan(2); // split into ranges
    });
  }

  it("agrees with listAll through the real client and the emulator", async () => {
    const gcs = new GcsObjectStore({ bucket: "paging", endpoint: emu.url });
    await compare(gcs, { prefix: "d/", delimiter: "/" });
    await compare(gcs, { prefix: "d/" });
  });

  it("splits above the last name, in increasing order", () => {
    const s = splitPoints("d/00a1", "d/3f2e", 8);
    expect(s.length).toBe(7);
    expect([...s].sort()).toEqual(s);
    expect(s[0]! > "d/3f2e").toBe(true);
    expect(splitPoints("d/x", "d/x", 4).every((k) => k > "d/x")).toBe(true);
  });
});
