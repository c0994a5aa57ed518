import { execFile, spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
export const SOM = resolve(ROOT, "bin/som");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without blocking this process's event loop — tests serve the
 * emulator from this same process, so a synchronous call into the mount would
 * deadlock.
 */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 2 ** 20, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

export function som(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run(SOM, args, { env });
}

export function spawnSom(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(SOM, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Resolves when `child` has written a line matching `pattern` to stderr;
 * rejects if it exits first or `timeoutMs` passes. `seen` is what it wrote
 * before this was called.
 */
export function waitForStderr(child: ChildProcess, pattern: RegExp, seen = "", timeoutMs = 30_000): Promise<void> {
  if (pattern.test(seen)) return Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    let text = seen;
    const done = (err?: Error): void => {
      clearTimeout(timer);
      child.stderr!.off("data", onData);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolvePromise();
    };
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (pattern.test(text)) done();
    };
    const onExit = (code: number | null): void => done(new Error(`exited ${code} before ${pattern}: ${text}`));
    const timer = setTimeout(() => done(new Error(`no ${pattern} in ${timeoutMs} ms: ${text}`)), timeoutMs);
    child.stderr!.on("data", onData);
    child.once("exit", onExit);
  });
}

export function waitExit(child: ChildProcess, timeoutMs = 20_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolvePromise, reject) => {
    const t = setTimeout(() => reject(new Error(`process ${child.pid} did not exit in ${timeoutMs} ms`)), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolvePromise(code);
    });
  });
}
