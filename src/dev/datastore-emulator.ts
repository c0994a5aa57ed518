// Development harness parts shared by the tests and the benchmarks: the
// official Cloud Datastore emulator (gcloud beta emulators datastore) on its
// own free port and data dir, and a counting proxy to put in front of it so
// a test can see how many requests a mount sends.
import { spawn, type ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import { createServer as createHttpServer, request, type Server } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recordToJson } from "../metadata/datastore/values.js";
import type { MetadataRecord } from "../metadata/record.js";

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export class DatastoreEmulator {
  private constructor(readonly host: string, readonly project: string, private readonly child: ChildProcess, readonly logFile: string) {}

  static async start(project = "som-test"): Promise<DatastoreEmulator> {
    const dir = await mkdtemp(join(tmpdir(), "som-datastore-"));
    const port = await freePort();
    const logFile = join(dir, "emulator.log");
    const out = openSync(logFile, "a");
    // Its own process group, so stop() takes gcloud, the wrapper script and the JVM together.
    const child = spawn("gcloud", [
      "beta", "emulators", "datastore", "start", "--no-store-on-disk", `--host-port=127.0.0.1:${port}`,
      "--consistency=1.0", `--data-dir=${join(dir, "data")}`, `--project=${project}`,
    ], {
      detached: true, stdio: ["ignore", out, out],
      env: { ...process.env, CLOUDSDK_CONFIG: join(dir, "gcloud"), CLOUDSDK_CORE_DISABLE_PROMPTS: "1" },
    });
    const emu = new DatastoreEmulator(`127.0.0.1:${port}`, project, child, logFile);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the Datastore emulator exited (${child.exitCode}); see ${logFile}`);
      try {
        if ((await (await fetch(`http://${emu.host}/`)).text()).trim() === "Ok") return emu;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await emu.stop();
        throw new Error(`the Datastore emulator did not answer in 60 s; see ${logFile}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  get env(): Record<string, string> {
    return { DATASTORE_EMULATOR_HOST: this.host, DATASTORE_PROJECT_ID: this.project };
  }

  /**
   * Writes many records fast (tests and benchmarks at scale): plain
   * non-transactional commits of 500 upserts, four at a time.
   */
  async putMany(records: MetadataRecord[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < records.length) {
        const batch = records.slice(next, (next += 500));
        const r = await fetch(`http://${this.host}/v1/projects/${this.project}:commit`, {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ mode: "NON_TRANSACTIONAL", mutations: batch.map((rec) => ({ upsert: recordToJson(rec, this.project) })) }),
        });
        if (!r.ok) throw new Error(`Datastore emulator commit: HTTP ${r.status} ${await r.text()}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }

  /** SIGSTOP/SIGCONT the whole emulator: it keeps accepting connections but answers nothing. */
  pause(): void {
    process.kill(-this.child.pid!, "SIGSTOP");
  }

  resume(): void {
    process.kill(-this.child.pid!, "SIGCONT");
  }

  async stop(): Promise<void> {
    if (this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, "SIGCONT"); // a paused emulator can't act on SIGTERM
      } catch {
        // already gone
      }
    }
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    try {
      process.kill(-this.child.pid!, "SIGTERM");
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-this.child.pid!, "SIGKILL");
      } catch {
        // gone
      }
    }, 5_000);
    await exited;
    clearTimeout(t);
    // The JVM may outlive the gcloud wrapper for a moment; wait until the port is closed.
    for (let i = 0; i < 50; i++) {
      try {
        await fetch(`http://${this.host}/`);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * A transparent HTTP proxy in front of the emulator that counts requests by
 * Datastore method ("runQuery", "lookup", "commit", ...).
 */
export class CountingProxy {
  /** Called after each request body arrives. */
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly calls: Map<string, number>,
    /** Request bodies by method, in arrival order (JSON text). */
    readonly bodies: { method: string; body: string }[],
  ) {}

  /** Resolves once `check` holds, checked as each request arrives; rejects after `timeoutMs`. */
  waitFor(check: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`the awaited Datastore requests did not come in ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(listener);
    });
  }

  static async start(target: string): Promise<CountingProxy> {
    const calls = new Map<string, number>();
    const bodies: { method: string; body: string }[] = [];
    let proxy: CountingProxy | undefined;
    const server = createHttpServer((req, res) => {
      const method = (req.url ?? "").split(":").pop() ?? "";
      calls.set(method, (calls.get(method) ?? 0) + 1);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        bodies.push({ method, body: Buffer.concat(chunks).toString("utf8") });
        for (const l of proxy?.listeners ?? []) l();
      });
      const [host, port] = target.split(":");
      const up = request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.on("error", () => {
        if (!res.headersSent) res.writeHead(503, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: 503, status: "UNAVAILABLE", message: "proxy: upstream failed" } }));
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    proxy = new CountingProxy(server, `127.0.0.1:${(server.address() as AddressInfo).port}`, calls, bodies);
    return proxy;
  }

  count(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  total(): number {
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  reset(): void {
    this.calls.clear();
    this.bodies.length = 0;
  }

  /** The queries asked (first pages only, not continuations), as their JSON query objects. */
  queries(): { kind?: { name: string }[]; filter?: unknown }[] {
    return this.bodies
      .filter((b) => b.method === "runQuery")
      .map((b) => (JSON.parse(b.body) as { query: { startCursor?: string; kind?: { name: string }[]; filter?: unknown } }).query)
      .filter((q) => !q.startCursor);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
