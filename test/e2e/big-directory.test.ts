// A directory of Imaging Data Commons size through a real mount: 120,000
// series UUIDs at the top of a bucket (a synthetic namespace in the
// emulator). It streams (ls -f | head answers while the listing is held
// back), lists completely, and ls -l is answered from the cached listing
// without a request per entry.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { SyntheticTable } from "../../src/emulator/synthetic.js";
import { emulatorStats, resetStats, startEmulator } from "../helpers/emulator.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run } from "../helpers/proc.js";

const SERIES = 120_000;
const SPEC = { prefix: "", folders: SERIES, filesPerFolder: 1, naming: "uuid" as const, objectSize: 16, seed: 11 };
let emu: Emulator;
let m: TestMount;
let expected: string[];

async function faults(body: Record<string, unknown>): Promise<{ holding: number }> {
  return (await (await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify(body) })).json()) as { holding: number };
}

beforeAll(async () => {
  emu = await startEmulator({ synthetic: { idc: [SPEC] } });
  const t = new SyntheticTable("idc", [SPEC]);
  expected = Array.from({ length: SERIES }, (_, i) => t.nameAt(i).split("/")[0]!);
  m = await TestMount.start("idc", emu.url);
});

afterAll(async () => {
  await faults({ holdRangeLists: false }).catch(() => undefined);
  await stopAllMounts();
  await emu?.close();
});

describe(`a directory of ${SERIES.toLocaleString("en-US")} series`, () => {
  it("streams: ls -f | head answers from the first page while the rest of the listing is held back", async () => {
    await faults({ holdRangeLists: true });
    const r = await run("bash", ["-c", `ls -f '${m.dir}' | head -5`]);
    // The emulator is still holding the requests for the rest: the listing is not complete.
    const { holding } = await faults({});
    expect(holding).toBeGreaterThan(0);
    expect(r.stdout.trim().split("\n")).toEqual([".", "..", ...expected.slice(0, 3)]);
    await faults({ holdRangeLists: false });
  });

  it("lists every entry exactly once", async () => {
    const r = await run("bash", ["-c", `ls -f '${m.dir}'`]);
    expect(r.code, r.stderr).toBe(0);
    const got = r.stdout.trim().split("\n").filter((n) => n !== "." && n !== "..");
    expect(got).toHaveLength(SERIES);
    expect(got).toEqual(expected); // in listing order: GCS byte order
  });

  it("ls -l makes no request per entry and does not list again while the listing is cached", async () => {
    await resetStats(emu.url);
    const r = await run("bash", ["-c", `ls -l '${m.dir}' | tail -n +2 | wc -l`]);
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBe(SERIES);
    const s = await emulatorStats(emu.url);
    expect(s.list).toBe(0);
    expect(s.metadata).toBe(0);
    expect(m.stderr).not.toMatch(/ error: /);
  });
});
