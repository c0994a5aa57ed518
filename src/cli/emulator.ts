// som-emulator: a local GCS JSON-API server for tests, demos and benchmarks.
import { Command, InvalidArgumentError } from "commander";
import { Emulator } from "../emulator/server.js";
import { parseSyntheticSpec, type SyntheticSpec } from "../emulator/synthetic.js";
import { parseSize } from "../util/size.js";
import { installFriendlyErrors, fail } from "./errors.js";

function num(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`);
    return n;
  };
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command("som-emulator")
    .description("Serve a local Google Cloud Storage JSON API, seeded from directories")
    .option("--port <n>", "port to listen on (0 = any free port)", num("--port", 0, 65535), 0)
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--bucket <name[=dir]>", "a bucket, optionally seeded from a directory (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--synthetic <bucket:spec>", "a read-only bucket of generated names, e.g. idc:1000000x1 (FOLDERSxFILES[,prefix=P][,naming=uuid|uid][,size=N][,seed=S]; repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--data-dir <dir>", "where uploaded bytes are kept (default: a fresh temporary directory)")
    .option("--latency <ms>", "added to every request", num("--latency", 0, 600_000), 0)
    .option("--bandwidth <size>", "per response stream, per second (e.g. 64MiB)", (v: string) => parseSize(v), 0)
    .option("--error-rate <p>", "probability that a request answers 503", num("--error-rate", 0, 1), 0)
    .option("--cut-rate <p>", "probability that a media response is cut mid-body", num("--cut-rate", 0, 1), 0)
    .option("--seed <n>", "random seed for injected faults", num("--seed", 0, 2 ** 32), 1)
    .option("--demo-data <dir>", "generate the demo dataset (synthetic CT series) into dir and seed bucket \"demo\" from it")
    .option("--requester-pays <bucket>", "make a bucket requester pays: requests without userProject get 400, as from GCS (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--port-file <path>", "write the chosen port here once listening")
    .option("--verbose", "log every request");
  installFriendlyErrors(program, "som-emulator");
  program.parse(argv);
  const o = program.opts<{
    port: number; host: string; bucket: string[]; synthetic: string[]; dataDir?: string; latency: number; bandwidth: number;
    errorRate: number; cutRate: number; seed: number; portFile?: string; verbose?: boolean; demoData?: string; requesterPays: string[];
  }>();
  if (o.demoData) {
    const { rm } = await import("node:fs/promises");
    const { writeDemoData } = await import("../dicom/demo-data.js");
    await rm(o.demoData, { recursive: true, force: true });
    await writeDemoData(o.demoData);
    o.bucket.push(`demo=${o.demoData}`);
  }
  const synthetic: Record<string, SyntheticSpec[]> = {};
  for (const v of o.synthetic) {
    const colon = v.indexOf(":");
    if (colon < 1) fail(new Error(`--synthetic ${v}: give BUCKET:SPEC, e.g. idc:1000000x1`));
    try {
      (synthetic[v.slice(0, colon)] ??= []).push(parseSyntheticSpec(v.slice(colon + 1)));
    } catch (e) {
      fail(e);
    }
  }
  const buckets: Record<string, string | undefined> = {};
  for (const b of o.bucket.length || o.synthetic.length ? o.bucket : ["demo"]) {
    const eq = b.indexOf("=");
    if (eq < 0) buckets[b] = undefined;
    else buckets[b.slice(0, eq)] = b.slice(eq + 1);
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const emu = await Emulator.start({
    port: o.port, host: o.host, buckets, synthetic, requesterPays: o.requesterPays,
    faults: { latencyMs: o.latency, bandwidth: o.bandwidth, errorRate: o.errorRate, cutRate: o.cutRate, seed: o.seed },
    ...(o.dataDir ? { dataDir: o.dataDir } : {}),
    ...(o.verbose ? { log } : { log: (l: string) => { if (l.startsWith("emulator:")) log(l); } }),
  }).catch((e: unknown) => fail(e));
  if (o.portFile) {
    const { writeFile } = await import("node:fs/promises");
    await writeFile(o.portFile, String(emu.port));
  }
  const counts = [...emu.store.buckets.values()].map((b) => `${b.name} (${b.size.toLocaleString("en-US")} objects${b.writable ? "" : ", synthetic"})`).join(", ");
  process.stdout.write(`som-emulator listening on http://${o.host}:${emu.port} with ${counts}\n`);
  const stop = (): void => {
    void emu.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
