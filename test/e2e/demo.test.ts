// scripts/demo.sh end to end: it publishes the demo study with som upload,
// mounts it with sidecars, and Ctrl-C takes everything down again.
import { spawn } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fuseMountAt } from "../../src/fuse/mount-table.js";
import { sha256File, tempDir } from "../helpers/files.js";
import { ROOT } from "../helpers/proc.js";

let pgid: number | undefined;
afterAll(() => {
  if (pgid) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

describe("scripts/demo.sh", () => {
  it("publishes and mounts the demo study with sidecars; Ctrl-C unmounts and stops the emulators", async () => {
    const state = await tempDir("demo");
    const mnt = join(state, "mnt");
    const child = spawn("bash", [join(ROOT, "scripts/demo.sh")], {
      env: { ...process.env, SOM_DEMO_STATE: join(state, "s"), SOM_DEMO_MNT: mnt, STORAGE_EMULATOR_HOST: "", DATASTORE_EMULATOR_HOST: "" },
      detached: true, stdio: ["ignore", "pipe", "pipe"],
    });
    pgid = child.pid;
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 150_000;
    while (!/ info: mounted gs:\/\/demo/.test(out) || !(await fuseMountAt(mnt))) {
      if (child.exitCode !== null) throw new Error(`demo.sh exited ${child.exitCode}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`demo.sh did not mount:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(out).toContain("sidecars from Datastore project som-demo");
    expect((await readdir(mnt)).sort()).toEqual(["IRB41449", "IRB41449.json"]);
    const entities = (await readdir(join(mnt, "IRB41449"))).sort();
    expect(entities).toEqual(["SUID101", "SUID101.json", "SUID102", "SUID102.json", "SUID103", "SUID103.json"]);
    const files = await readdir(join(mnt, "IRB41449", "SUID101"));
    expect(files.length).toBe(2 * 25); // 24 images + a report, each with its record
    const local = join(state, "s", "files", "study", "SUID101");
    for (const f of await readdir(local)) expect(await sha256File(join(mnt, "IRB41449", "SUID101", f))).toBe(await sha256File(join(local, f)));
    const rec = JSON.parse(await readFile(join(mnt, "IRB41449", "SUID101.json"), "utf8")) as Record<string, unknown>;
    expect(rec).toMatchObject({ uid: "SUID101", PatientAge: "050Y", IMAGE_COUNT: 24 });

    const gcs = `http://127.0.0.1:${(await readFile(join(state, "s", "port"), "utf8")).trim()}/`;
    const datastore = `http://127.0.0.1:${(await readFile(join(state, "s", "datastore-port"), "utf8")).trim()}/`;
    process.kill(-child.pid!, "SIGINT"); // what Ctrl-C in its terminal does
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    expect(code, out).toBe(0);
    pgid = undefined;
    expect(await fuseMountAt(mnt)).toBeFalsy();
    for (let i = 0; i < 50 && ((await answers(gcs)) || (await answers(datastore))); i++) await new Promise((r) => setTimeout(r, 200));
    expect(await answers(gcs)).toBe(false);
    expect(await answers(datastore)).toBe(false);
  });
});
