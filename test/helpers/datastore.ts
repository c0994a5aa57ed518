// The official Cloud Datastore emulator (gcloud beta emulators datastore),
// one per test file on its own free port and data dir, and a counting gRPC
// proxy to put in front of it so tests can see how many RPCs the mount sends.
import { spawn, type ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { tempDir } from "./files.js";

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
    const dir = await tempDir("datastore");
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

  get env(): NodeJS.ProcessEnv {
    return { DATASTORE_EMULATOR_HOST: this.host, DATASTORE_PROJECT_ID: this.project };
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
 * A transparent HTTP/2 proxy for gRPC that counts calls by method
 * ("RunQuery", "Lookup", ...). Requests and trailers pass through untouched.
 */
export class GrpcCountingProxy {
  readonly calls = new Map<string, number>();
  private upstream: http2.ClientHttp2Session | undefined;

  private constructor(private readonly server: http2.Http2Server, readonly host: string, private readonly target: string) {}

  static async start(target: string): Promise<GrpcCountingProxy> {
    const server = http2.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const proxy = new GrpcCountingProxy(server, `127.0.0.1:${(server.address() as AddressInfo).port}`, target);
    server.on("stream", (stream, headers) => proxy.forward(stream, headers));
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
  }

  private session(): http2.ClientHttp2Session {
    if (!this.upstream || this.upstream.closed || this.upstream.destroyed) {
      this.upstream = http2.connect(`http://${this.target}`);
      this.upstream.on("error", () => undefined);
    }
    return this.upstream;
  }

  private forward(stream: http2.ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = String(headers[":path"] ?? "");
    const method = path.slice(path.lastIndexOf("/") + 1);
    this.calls.set(method, this.count(method) + 1);
    const out: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(":") || k === ":method" || k === ":path") out[k] = v;
    const up = this.session().request(out);
    stream.pipe(up);
    let trailers: IncomingHttpHeaders = {};
    up.on("response", (h) => {
      // A "trailers-only" answer (errors) carries grpc-status in the headers.
      const trailersOnly = h["grpc-status"] !== undefined;
      stream.respond(h, trailersOnly ? { endStream: true } : { waitForTrailers: true });
      if (!trailersOnly) up.pipe(stream);
    });
    up.on("trailers", (t) => (trailers = t));
    stream.on("wantTrailers", () => stream.sendTrailers(Object.fromEntries(Object.entries(trailers).filter(([k]) => !k.startsWith(":")))));
    up.on("error", () => {
      if (!stream.headersSent) stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": "proxy: upstream failed" }, { endStream: true });
      else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    stream.on("error", () => up.close());
  }

  async close(): Promise<void> {
    this.upstream?.close();
    await new Promise((r) => this.server.close(r));
  }
}
