// The emulator is proven faithful with real clients nobody here wrote:
// gcloud storage and rclone upload, list and download through it, and the
// bytes come back identical. Also: the injected faults do what they say.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { emulatorStats, resetStats, startEmulator } from "../helpers/emulator.js";
import { sha256File, tempDir, treeHashes, writeRandomFile } from "../helpers/files.js";
import { run } from "../helpers/proc.js";

let emu: Emulator;
let src: string;

beforeAll(async () => {
  emu = await startEmulator({ buckets: { clients: undefined } });
  src = await tempDir("clients-src");
  await mkdir(join(src, "series one"), { recursive: true });
  await writeRandomFile(join(src, "series one", "small.dcm"), 70_000);
  await writeRandomFile(join(src, "series one", "ünï #+.dcm"), 1234);
  await writeRandomFile(join(src, "large.bin"), 40 * 2 ** 20); // resumable, several chunks
  await writeFile(join(src, "empty.txt"), "");
});

afterAll(async () => {
  await emu?.close();
});

const gcloudEnv = (): NodeJS.ProcessEnv => ({
  CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${emu.url}/`,
  CLOUDSDK_AUTH_ACCESS_TOKEN: "emulator",
  CLOUDSDK_CORE_DISABLE_PROMPTS: "1",
  CLOUDSDK_CORE_PROJECT: "som-test",
  CLOUDSDK_CONFIG: join(src, ".gcloud-config"),
});

const rcloneArgs = (): string[] => ["--gcs-endpoint", `${emu.url}/storage/v1/`, "--gcs-anonymous", "--config", "/dev/null"];

describe("gcloud storage against the emulator", () => {
  it("uploads, lists and downloads byte-identical files", async () => {
    const up = await run("gcloud", ["storage", "cp", "-r", `${src}/*`, "gs://clients/gcloud/"], { env: gcloudEnv() });
    expect(up.code, up.stderr).toBe(0);
    const ls = await run("gcloud", ["storage", "ls", "-r", "gs://clients/gcloud/"], { env: gcloudEnv() });
    expect(ls.code, ls.stderr).toBe(0);
    for (const name of ["series one/small.dcm", "series one/ünï #+.dcm", "large.bin", "empty.txt"]) {
      expect(ls.stdout).toContain(`gs://clients/gcloud/${name}`);
      expect(emu.store.bucket("clients").get(`gcloud/${name}`), name).toBeDefined();
    }
    const dest = await tempDir("gcloud-dl");
    const down = await run("gcloud", ["storage", "cp", "-r", "gs://clients/gcloud/*", dest], { env: gcloudEnv() });
    expect(down.code, down.stderr).toBe(0);
    const want = await treeHashes(src);
    want.forEach((_h, k) => k.startsWith(".gcloud-config") && want.delete(k));
    expect(await treeHashes(dest)).toEqual(want);
  });
});

describe("rclone against the emulator", () => {
  it("uploads, lists and downloads byte-identical files", async () => {
    const up = await run("rclone", ["copy", src, ":gcs:clients/rclone", "--exclude", ".gcloud-config/**", ...rcloneArgs()]);
    expect(up.code, up.stderr).toBe(0);
    const lsl = await run("rclone", ["lsl", ":gcs:clients/rclone", ...rcloneArgs()]);
    expect(lsl.code, lsl.stderr).toBe(0);
    expect(lsl.stdout).toMatch(/41943040 .* large\.bin/);
    expect(lsl.stdout).toContain("series one/ünï #+.dcm");
    const dest = await tempDir("rclone-dl");
    const down = await run("rclone", ["copy", ":gcs:clients/rclone", dest, "--transfers", "8", ...rcloneArgs()]);
    expect(down.code, down.stderr).toBe(0);
    const want = await treeHashes(src);
    want.forEach((_h, k) => k.startsWith(".gcloud-config") && want.delete(k));
    expect(await treeHashes(dest)).toEqual(want);
    // rclone checks md5 on download and on `check`, so the emulator's hashes are the real ones.
    const check = await run("rclone", ["check", src, ":gcs:clients/rclone", "--exclude", ".gcloud-config/**", ...rcloneArgs()]);
    expect(check.code, check.stderr).toBe(0);
  });

  it("an object uploaded by gcloud reads the same through rclone", async () => {
    const out = join(await tempDir("cross"), "large.bin");
    const r = await run("rclone", ["copyto", ":gcs:clients/gcloud/large.bin", out, ...rcloneArgs()]);
    expect(r.code, r.stderr).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(join(src, "large.bin")));
  });
});

describe("the JSON API directly", () => {
  const obj = (name: string): string => `${emu.url}/storage/v1/b/clients/o/${encodeURIComponent(name)}`;

  it("serves ranges (206, 416), pinned generations and hash headers", async () => {
    const size = 40 * 2 ** 20;
    const up = await fetch(`${emu.url}/upload/storage/v1/b/clients/o?uploadType=media&name=direct/large.bin`, { method: "POST", body: Buffer.alloc(size, 7) });
    expect(up.status).toBe(200);
    const large = obj("direct/large.bin");
    const meta = (await (await fetch(large)).json()) as { generation: string; crc32c: string; md5Hash: string; size: string };
    expect(meta.size).toBe(String(size));
    const r = await fetch(`${large}?alt=media&generation=${meta.generation}`, { headers: { range: "bytes=10-19" } });
    expect(r.status).toBe(206);
    expect(r.headers.get("content-range")).toBe(`bytes 10-19/${40 * 2 ** 20}`);
    expect(r.headers.get("x-goog-hash")).toBe(`crc32c=${meta.crc32c},md5=${meta.md5Hash}`);
    expect(r.headers.get("x-goog-generation")).toBe(meta.generation);
    expect(r.headers.get("x-goog-stored-content-length")).toBe(meta.size);
    expect((await r.arrayBuffer()).byteLength).toBe(10);
    expect((await fetch(`${large}?alt=media`, { headers: { range: "bytes=999999999-" } })).status).toBe(416);
    expect((await fetch(`${large}?alt=media&generation=1`)).status).toBe(404);
  });

  it("deletes with generation preconditions", async () => {
    await fetch(`${emu.url}/upload/storage/v1/b/clients/o?uploadType=media&name=doomed&ifGenerationMatch=0`, { method: "POST", body: "x" });
    const again = await fetch(`${emu.url}/upload/storage/v1/b/clients/o?uploadType=media&name=doomed&ifGenerationMatch=0`, { method: "POST", body: "y" });
    expect(again.status).toBe(412);
    const { generation } = (await (await fetch(obj("doomed"))).json()) as { generation: string };
    expect((await fetch(`${obj("doomed")}?ifGenerationMatch=1`, { method: "DELETE" })).status).toBe(412);
    expect((await fetch(`${obj("doomed")}?ifGenerationMatch=${generation}`, { method: "DELETE" })).status).toBe(204);
    expect((await fetch(obj("doomed"))).status).toBe(404);
  });

  it("rejects an upload whose declared CRC32C does not match", async () => {
    const body = '--b\r\nContent-Type: application/json\r\n\r\n{"name":"bad","crc32c":"AAAAAA=="}\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n';
    const r = await fetch(`${emu.url}/upload/storage/v1/b/clients/o?uploadType=multipart`, { method: "POST", body, headers: { "content-type": 'multipart/related; boundary="b"' } });
    expect(r.status).toBe(400);
    expect(emu.store.bucket("clients").get("bad")).toBeUndefined();
  });
});

describe("injected faults", () => {
  it("adds latency per request and caps bandwidth per stream", async () => {
    await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify({ latencyMs: 200, bandwidth: 8 * 2 ** 20 }) });
    try {
      const t0 = performance.now();
      const r = await fetch(`${emu.url}/storage/v1/b/clients/o/${encodeURIComponent("gcloud/large.bin")}?alt=media`, { headers: { range: "bytes=0-4194303" } });
      expect((await r.arrayBuffer()).byteLength).toBe(4 * 2 ** 20);
      const ms = performance.now() - t0;
      // 200 ms latency + 4 MiB at 8 MiB/s = 700 ms at the least.
      expect(ms).toBeGreaterThanOrEqual(650);
    } finally {
      await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify({ latencyMs: 0, bandwidth: 0 }) });
    }
  });

  it("answers 503 and cuts bodies at the configured rates, reproducibly from the seed", async () => {
    const outcomes = async (): Promise<string> => {
      await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify({ errorRate: 0.3, cutRate: 0.3, seed: 42 }) });
      let s = "";
      for (let i = 0; i < 30; i++) {
        try {
          const r = await fetch(`${emu.url}/storage/v1/b/clients/o/${encodeURIComponent("gcloud/series one/small.dcm")}?alt=media`);
          if (r.status === 503) s += "E";
          else s += (await r.arrayBuffer()).byteLength === 70_000 ? "." : "C";
        } catch {
          s += "C";
        }
      }
      return s;
    };
    try {
      await resetStats(emu.url);
      const a = await outcomes();
      const b = await outcomes();
      expect(a).toBe(b);
      expect(a).toMatch(/E/);
      expect(a).toMatch(/C/);
      expect(a).toMatch(/\./);
      const stats = await emulatorStats(emu.url);
      expect(stats.injected503).toBe(2 * (a.match(/E/g)?.length ?? 0));
    } finally {
      await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify({ errorRate: 0, cutRate: 0 }) });
    }
  });
});
