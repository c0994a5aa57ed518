// Checks whole block files on a thread of their own (check-worker.ts). A
// block is checked whole before its file may back a FUSE handle
// (passthrough). Done on the event loop — open, header attribute, ~0.5 MB
// of reads and CRCs per slice — a series read ahead delayed every FUSE
// answer behind it: the opens of a cp -r waited ~0.25 ms each for the loop.
// Here the loop posts one message per file and takes the open descriptor
// back.
//
// Three tiers: checks a reader waits on (an open) go first, then those asked
// ahead of a reader (a series prefetch), then idle ones (a remount's recently
// used blocks, checked before anyone asks); one a reader then waits on, or
// asks ahead, is moved up. Four are handed to the thread at a time, so it never idles between them
// and an urgent one waits for at most those four.
import { close } from "node:fs";
import { Worker } from "node:worker_threads";
import type { CheckReply, CheckRequest, CheckResult } from "./check-worker.js";

type Check = Omit<Extract<CheckRequest, { op: "check" }>, "op" | "id">;

interface Job {
  request: Check;
  resolve: (r: CheckResult) => void;
}

/** urgent: a reader waits on it; ahead: a reader will soon; idle: nobody has asked yet. */
export type CheckTier = "urgent" | "ahead" | "idle";

const IN_FLIGHT = 4;
/** How long a closing checker's thread has to end before it is terminated. */
const EXIT_GRACE_MS = 5_000;

/**
 * Node starts a worker from a JavaScript file: the compiled one, also when
 * this module runs from source (vitest) — so tests need a current build,
 * which scripts/test.sh makes first.
 */
const defaultWorkerUrl = import.meta.url.endsWith(".ts")
  ? new URL("../../../dist/cache/disk/check-worker.js", import.meta.url)
  : new URL("./check-worker.js", import.meta.url);

export class BlockChecker {
  private worker: Worker | undefined;
  /** Urgent checks at the front, then those asked ahead. */
  private readonly queue: Job[] = [];
  private readonly idle: Job[] = [];
  private readonly sent = new Map<number, Job>();
  private nextId = 1;
  private closed = false;
  /** Why checking is off for good: a thread died before answering anything (it would again). */
  private broken: string | undefined;

  /** `onBroken` hears once if checking stops for good; `workerUrl` and `exitGraceMs` are for tests. */
  constructor(private readonly onBroken: (why: string) => void = () => undefined, private readonly workerUrl: URL = defaultWorkerUrl,
    private readonly exitGraceMs = EXIT_GRACE_MS) {}

  /** Starts the thread now, so the first check does not wait for it (~30 ms). */
  start(): void {
    if (!this.closed) this.thread();
  }

  /** The block file at `request.path` checked as expected, `length` bytes; a good one's descriptor is the caller's to close. */
  check(request: Check, tier: CheckTier = "ahead"): Promise<CheckResult> {
    if (this.closed) return Promise.resolve({ ok: false, why: "checker closed", bad: false });
    if (this.broken) return Promise.resolve({ ok: false, why: this.broken, bad: false });
    return new Promise((resolve) => {
      const job = { request, resolve };
      if (tier === "urgent") this.queue.unshift(job);
      else if (tier === "ahead") this.queue.push(job);
      else this.idle.push(job);
      this.pump();
    });
  }

  /** A check of `path` still queued moves up to `tier` (a reader now waits on, or asks ahead for, what was queued below). */
  hurry(path: string, tier: Exclude<CheckTier, "idle"> = "urgent"): void {
    const idle = this.idle.findIndex((j) => j.request.path === path);
    if (idle >= 0) {
      const [job] = this.idle.splice(idle, 1);
      if (tier === "urgent") this.queue.unshift(job!);
      else this.queue.push(job!);
      return;
    }
    if (tier !== "urgent") return;
    const i = this.queue.findIndex((j) => j.request.path === path);
    if (i > 0) this.queue.unshift(...this.queue.splice(i, 1));
  }

  /** Closes descriptors checks handed out, on the thread (the event loop makes no file calls for them). */
  closeFds(fds: number[]): void {
    if (fds.length === 0) return;
    if (this.closed) {
      for (const fd of fds) close(fd, () => undefined);
      return;
    }
    this.thread().postMessage({ op: "close", fds } satisfies CheckRequest);
  }

  private pump(): void {
    while (this.sent.size < IN_FLIGHT && this.queue.length + this.idle.length > 0) {
      const job = (this.queue.length > 0 ? this.queue : this.idle).shift()!;
      const id = this.nextId++;
      this.sent.set(id, job);
      this.thread().postMessage({ op: "check", id, ...job.request } satisfies CheckRequest);
    }
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.workerUrl);
    w.unref(); // never what keeps the daemon alive
    let answered = false;
    w.on("message", (r: CheckReply) => {
      answered = true;
      const job = this.sent.get(r.id);
      this.sent.delete(r.id);
      job?.resolve(r);
      this.pump();
    });
    // A thread that died fails what it held (not as bad blocks), and the next check starts another;
    // one that died before answering anything (it cannot load, say) would die again: checking stops.
    const lost = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const failed = [...this.sent.values()];
      this.sent.clear();
      if (!answered && !this.closed) {
        this.broken = why;
        failed.push(...this.queue.splice(0), ...this.idle.splice(0));
        this.onBroken(why);
      }
      for (const job of failed) job.resolve({ ok: false, why, bad: false });
      if (!this.closed) this.pump();
    };
    w.on("error", (err) => lost(`checker failed: ${err.message}`));
    w.on("exit", (code) => lost(`checker exited (${code})`));
    this.worker = w;
    return w;
  }

  /** Ends checking; how its thread ended, if it had one. */
  async close(): Promise<"ended" | "terminated" | undefined> {
    this.closed = true;
    for (const job of [...this.queue.splice(0), ...this.idle.splice(0)]) job.resolve({ ok: false, why: "checker closed", bad: false });
    const w = this.worker;
    if (!w) return undefined;
    // Asked to end, not terminated: a thread stopped while it is still loading koffi (the FFI its
    // header attributes are read through) aborts the whole process (koffi's init throws into a
    // terminating thread: "FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw"). The message
    // is handled only once the thread has loaded; one that does not end in time is terminated.
    const exited = new Promise<void>((resolve) => w.once("exit", () => resolve()));
    w.postMessage({ op: "exit" } satisfies CheckRequest);
    let how: "ended" | "terminated" = "ended";
    const timer = setTimeout(() => {
      how = "terminated";
      void w.terminate();
    }, this.exitGraceMs);
    await exited;
    clearTimeout(timer);
    return how;
  }
}
