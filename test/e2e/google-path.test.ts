// The path to Google, end to end, with no --endpoint and no emulator
// variables: in a private mount namespace storage.googleapis.com,
// oauth2.googleapis.com and datastore.googleapis.com resolve to a loopback
// address where a TLS front (a test CA, trusted through NODE_EXTRA_CA_CERTS)
// stands before the emulators and demands a bearer token, as Google does.
// Credentials are Application Default Credentials from a service-account
// key. The daemon runs under strace, so every connection it opens is seen.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDemoStudy, type DemoPatient } from "../../src/dicom/demo-data.js";
import { GoogleFront } from "../../src/dev/google-front.js";
import { OAuthFake } from "../../src/dev/oauth-fake.js";
import type { Emulator } from "../../src/emulator/server.js";
import { DatastoreEmulator } from "../helpers/datastore.js";
import { startEmulator } from "../helpers/emulator.js";
import { sha256File, tempDir } from "../helpers/files.js";
import { GOOGLE_HOSTS, PrivateNamespace, testCertificates } from "../helpers/google-path.js";
import { SOM, som, waitExit, waitForStderr } from "../helpers/proc.js";

const C = "IRBG";
const FRONT_ADDRESS = "127.0.0.2"; // loopback, and no one else's port 443
// Tokens say they live 305 s; google-auth-library renews 5 min before: every ~5 s here.
const TOKEN_SECONDS = 305;

let work: string;
let ds: DatastoreEmulator;
let emu: Emulator;
let oauth: OAuthFake;
let front: GoogleFront;
let plainFront: GoogleFront;
let ns: PrivateNamespace;
let patient: DemoPatient;
let daemonEnv: NodeJS.ProcessEnv;
const daemons: { child: ChildProcess; dir: string; log: () => string }[] = [];

/** Starts `som mount` inside the namespace (under strace when `traceFile` is given) and waits until it has mounted. */
async function mountInside(dir: string, args: string[], traceFile?: string): Promise<{ child: ChildProcess; log: () => string }> {
  await mkdir(dir, { recursive: true });
  const cmd = [...(traceFile ? ["strace", "-f", "-qq", "-e", "trace=connect", "-o", traceFile] : []), SOM, "mount", "gpath", dir, ...args];
  const [c, a] = ns.enter(cmd[0]!, cmd.slice(1));
  const child = spawn(c, a, { env: { ...process.env, ...daemonEnv }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const d = { child, dir, log: () => log };
  daemons.push(d);
  await waitForStderr(child, / info: mounted gs:\/\//, log);
  return d;
}

const inside = (cmd: string, args: string[]) => ns.run(cmd, args);

beforeAll(async () => {
  work = await tempDir("google");
  const certs = await testCertificates(work);
  ds = await DatastoreEmulator.start("som-google");
  emu = await startEmulator({ buckets: { gpath: undefined } });
  patient = (await writeDemoStudy(join(work, "study"), { patients: 1, series: 1, instancesPerSeries: 3, rows: 16, columns: 16 }))[0]!;
  const up = await som(["upload", "--bucket", "gpath", "--collection", C, "--entity", patient.entity, ...patient.files],
    { STORAGE_EMULATOR_HOST: emu.url, ...ds.env });
  expect(up.code, up.stderr).toBe(0);

  oauth = new OAuthFake(TOKEN_SECONDS);
  front = await GoogleFront.start({ host: FRONT_ADDRESS, port: 443, tls: certs, storage: emu.url, datastore: ds.host, oauth });
  plainFront = await GoogleFront.start({ host: "127.0.0.1", port: 0, storage: emu.url, oauth });
  const keyFile = join(work, "adc.json");
  await writeFile(keyFile, JSON.stringify(oauth.serviceAccountKey("https://oauth2.googleapis.com/token")));
  ns = await PrivateNamespace.start();
  await ns.redirect(join(work, "hosts"), FRONT_ADDRESS, GOOGLE_HOSTS);
  daemonEnv = {
    GOOGLE_APPLICATION_CREDENTIALS: keyFile, NODE_EXTRA_CA_CERTS: certs.caFile,
    STORAGE_EMULATOR_HOST: "", DATASTORE_EMULATOR_HOST: "", DATASTORE_PROJECT_ID: "", GOOGLE_CLOUD_PROJECT: "",
  };
}, 120_000);

afterAll(async () => {
  for (const d of daemons) {
    await inside(SOM, ["umount", d.dir]).catch(() => undefined);
    if (d.child.exitCode === null) d.child.kill("SIGKILL");
  }
  await Promise.allSettled([ns?.stop(), front?.close(), plainFront?.close(), emu?.close()]);
  await ds?.stop();
});

describe("the path to Google (storage, OAuth, Datastore) behind a TLS front", () => {
  let m: { child: ChildProcess; log: () => string };
  const dir = (): string => join(work, "mnt");
  const trace = (): string => join(work, "connect.trace");

  it("mounts with ADC from a service-account key: a token fetched and sent on every request, sidecars included", async () => {
    // No prefetch: each file below is fetched when read, so each read is a request the front sees.
    m = await mountInside(dir(), ["--project", "som-google", "--debug", "--metadata-ttl", "1", "--no-prefetch"], trace());
    const ls = await inside("ls", [join(dir(), C, patient.entity)]);
    expect(ls.code, ls.stderr).toBe(0);
    const names = patient.files.map((f) => f.split("/").pop()!);
    expect(ls.stdout.trim().split("\n").sort()).toEqual(names.flatMap((n) => [n, `${n}.json`]).sort());
    const sum = await inside("sha256sum", [join(dir(), C, patient.entity, names[0]!)]);
    expect(sum.stdout.split(" ")[0]).toBe(await sha256File(patient.files[0]!));
    const sidecar = await inside("cat", [join(dir(), C, patient.entity, `${names[0]}.json`)]);
    expect(JSON.parse(sidecar.stdout)).toMatchObject({ uid: `Collection/${C}/Entity/${patient.entity}/${names[0]}` });

    const hosts = new Set(front.seen.map((r) => r.host));
    expect(hosts).toEqual(new Set(GOOGLE_HOSTS));
    expect(oauth.refused).toBe(0);
    const api = front.seen.filter((r) => r.host !== "oauth2.googleapis.com");
    expect(api.length).toBeGreaterThan(3);
    expect(api.every((r) => r.token !== undefined && oauth.tokens.includes(r.token))).toBe(true);
    expect(api.filter((r) => r.host === "datastore.googleapis.com").length).toBeGreaterThan(0);
  });

  it("renews the token before it expires", async () => {
    const start = oauth.tokens.length;
    const end = Date.now() + 20_000;
    while (oauth.tokens.length === start) {
      expect(Date.now()).toBeLessThan(end);
      await inside("ls", [join(dir(), C)]); // listings (TTL 1 s) keep asking
      await new Promise((r) => setTimeout(r, 500));
    }
    const seenBefore = front.seen.length;
    await new Promise((r) => setTimeout(r, 1100)); // past the metadata TTL, so the next ls asks again
    await inside("ls", [join(dir(), C, patient.entity)]);
    const newest = oauth.tokens[oauth.tokens.length - 1];
    expect(front.seen.slice(seenBefore).filter((r) => r.host !== "oauth2.googleapis.com").some((r) => r.token === newest)).toBe(true);
  });

  it("after a 401 gets one fresh token and goes on", async () => {
    // Storage and Datastore hold a token each: revoke every one issued so far.
    const revoked = [...oauth.tokens];
    for (const t of revoked) oauth.revoke(t);
    const issued = oauth.tokens.length;
    const seenBefore = front.seen.length;
    const sum = await inside("sha256sum", [join(dir(), C, patient.entity, patient.files[1]!.split("/").pop()!)]);
    expect(sum.code, sum.stderr).toBe(0);
    expect(sum.stdout.split(" ")[0]).toBe(await sha256File(patient.files[1]!));
    const storage = front.seen.slice(seenBefore).filter((r) => r.host === "storage.googleapis.com");
    expect(storage.some((r) => r.status === 401 && revoked.includes(r.token!))).toBe(true);
    const fresh = oauth.tokens.slice(issued);
    expect(fresh.length).toBeGreaterThanOrEqual(1);
    expect(storage.filter((r) => r.status < 400).every((r) => fresh.includes(r.token!))).toBe(true);
    expect(storage.filter((r) => r.status < 400).length).toBeGreaterThan(0);
  });

  it("a 403 is EACCES for the reader and one line in the log", async () => {
    const name = patient.files[2]!.split("/").pop()!;
    front.denied.push(new RegExp(encodeURIComponent(name).replace(/\./g, "\\.")));
    const r = await inside("cat", [join(dir(), C, patient.entity, name)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    await inside("cat", [join(dir(), C, patient.entity, name)]);
    const lines = m.log().split("\n").filter((l) => l.includes(" error: ") && l.includes(name));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/HTTP 403/);
    front.denied.length = 0;
  });

  it("never logs a token, --debug included", () => {
    expect(oauth.tokens.length).toBeGreaterThan(1);
    for (const t of oauth.tokens) expect(m.log()).not.toContain(t);
  });

  it("sends credentials to an explicit --endpoint (a private endpoint), not with --anonymous", async () => {
    const pscDir = join(work, "psc");
    const p = await mountInside(pscDir, ["--endpoint", `http://127.0.0.1:${plainFront.port}`, "--layout", "raw"]);
    const r = await inside("ls", [join(pscDir, "Collection", C, "Entity", patient.entity)]);
    expect(r.code, r.stderr).toBe(0);
    expect(plainFront.seen.length).toBeGreaterThan(0);
    expect(plainFront.seen.every((s) => s.token !== undefined && s.status !== 401 && s.status !== 403)).toBe(true);
    await inside(SOM, ["umount", pscDir]);
    expect(p.log()).toContain("mounted gs://gpath/");
    const anonDir = join(work, "anon");
    await mkdir(anonDir, { recursive: true });
    const [c, a] = ns.enter(SOM, ["mount", "gpath", anonDir, "--endpoint", `http://127.0.0.1:${plainFront.port}`, "--anonymous"]);
    const anon = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(c, a, { env: { ...process.env, ...daemonEnv }, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("exit", (code) => resolve({ code, err }));
    });
    expect(anon.code).not.toBe(0);
    expect(anon.err).toMatch(/^som: bucket "gpath": HTTP 401 /);
    expect(anon.err.trim().split("\n")).toHaveLength(1);
  });

  it("stays on loopback: every connection the daemon opened went to a loopback address", async () => {
    await inside(SOM, ["umount", dir()]);
    expect(await waitExit(m.child)).toBe(0); // strace flushes its trace as the daemon exits
    const lines = (await readFile(trace(), "utf8")).split("\n").filter((l) => /AF_INET6?/.test(l));
    expect(lines.length).toBeGreaterThan(0);
    const addresses = lines.map((l) => /inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"/.exec(l)?.[1]);
    expect(addresses.every((a) => a !== undefined && (a.startsWith("127.") || a === "::1"))).toBe(true);
    expect(addresses).toContain(FRONT_ADDRESS);
  });
});
