// Test plumbing for the path to Google without Google: a test CA and a
// certificate for Google's hostnames (openssl), and a private mount
// namespace (unshare -m) whose /etc/hosts sends those hostnames to a
// loopback address. Whatever runs inside — the daemon, and the commands
// that read its mount — resolves them there; nothing outside is touched.
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run, type RunResult } from "./proc.js";

export const GOOGLE_HOSTS = ["storage.googleapis.com", "oauth2.googleapis.com", "datastore.googleapis.com"];

/** A CA and a server certificate for Google's hostnames, signed by it. */
export async function testCertificates(dir: string): Promise<{ caFile: string; key: string; cert: string }> {
  const ossl = async (args: string[]): Promise<void> => {
    const r = await run("openssl", args, { cwd: dir });
    if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  await ossl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=som test CA", "-days", "2"]);
  await ossl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=storage.googleapis.com"]);
  await writeFile(join(dir, "san.ext"), `subjectAltName=${GOOGLE_HOSTS.map((h) => `DNS:${h}`).join(",")}\n`);
  await ossl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"]);
  return { caFile: join(dir, "ca.pem"), key: await readFile(join(dir, "server.key"), "utf8"), cert: await readFile(join(dir, "server.pem"), "utf8") };
}

/** A private mount namespace held open by a sleeping process; commands enter it with nsenter. */
export class PrivateNamespace {
  private constructor(private readonly holder: ChildProcess) {}

  static async start(): Promise<PrivateNamespace> {
    const holder = spawn("unshare", ["--mount", "--propagation", "private", "sleep", "infinity"], { stdio: "ignore" });
    const ns = new PrivateNamespace(holder);
    // Ready once the holder's mount namespace is no longer ours.
    const ours = (await run("readlink", ["/proc/self/ns/mnt"])).stdout.trim();
    for (let i = 0; i < 100; i++) {
      const theirs = await run("readlink", [`/proc/${holder.pid}/ns/mnt`]);
      if (theirs.code === 0 && theirs.stdout.trim() !== ours) return ns;
      await new Promise((r) => setTimeout(r, 20));
    }
    holder.kill();
    throw new Error("unshare did not start a mount namespace");
  }

  get pid(): number {
    return this.holder.pid!;
  }

  /** nsenter's arguments to run `cmd` inside. */
  enter(cmd: string, args: string[]): [string, string[]] {
    return ["nsenter", ["-t", String(this.pid), "-m", "--", cmd, ...args]];
  }

  run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    const [c, a] = this.enter(cmd, args);
    return run(c, a, { env });
  }

  /** Makes `hosts` send each name to `address` inside the namespace. */
  async redirect(hostsFile: string, address: string, names: string[]): Promise<void> {
    await writeFile(hostsFile, `127.0.0.1 localhost\n${names.map((n) => `${address} ${n}`).join("\n")}\n`);
    const r = await this.run("mount", ["--bind", hostsFile, "/etc/hosts"]);
    if (r.code !== 0) throw new Error(`bind-mounting /etc/hosts: ${r.stderr}`);
  }

  async stop(): Promise<void> {
    if (this.holder.exitCode !== null || this.holder.signalCode !== null) return;
    const gone = new Promise((r) => this.holder.once("exit", r));
    this.holder.kill("SIGKILL");
    await gone;
  }
}
