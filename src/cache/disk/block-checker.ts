// Checks whole block files on a thread of their own (check-worker.ts). A
// block is checked whole before its file may back a FUSE handle
// (passthrough); done on the event loop, the reads and CRCs of a series
// read ahead (~100 MB for 200 slices) delayed every FUSE answer behind
// them: opens of a cp -r waited ~0.25 ms each for the loop. Here the loop
// only posts a message and takes the answer.
//
// Checks a reader waits on (an open) go before those queued ahead of it (a
// prefetch). Two are handed to the thread at a time, so it never idles
// between them and an urgent one waits for at most one other.
import { Worker } from "node:worker_threads";
import type { CheckReply, CheckRequest, CheckResult } from "./check-worker.js";

interface Job {
  request: Omit<CheckRequest, "id">;
  resolve: (r: CheckResult) => void;
}

const IN_FLIGHT = 4;

/** The thread's module: check-worker.js beside this one when built, check-worker.ts when run from source (tests). */
const workerUrl = new URL(import.meta.url.endsWith(".ts") ? "./check-worker.ts" : "./check-worker.js", import.meta.url);

export class BlockChecker {
  private worker: Worker | undefined;
  private readonly queue: Job[] = [];
  private readonly sent = new Map<number, Job>();
  private nextId = 1;
  private closed = false;

  /** Starts the thread now, so the first check does not wait for it (~30 ms). */
  start(): void {
    if (!this.closed) this.thread();
  }

  /** The file at `path` checked against `crcs` (one per pageSize page of `length` bytes). */
  check(request: Omit<CheckRequest, "id">, urgent = false): Promise<CheckResult> {
    if (this.closed) return Promise.resolve({ ok: false, why: "checker closed" });
    return new Promise((resolve) => {
      const job = { request, resolve };
      if (urgent) this.queue.unshift(job);
      else this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    while (this.sent.size < IN_FLIGHT && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const id = this.nextId++;
      this.sent.set(id, job);
      this.thread().postMessage({ ...job.request, id } satisfies CheckRequest);
    }
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(workerUrl);
    w.unref(); // never what keeps the daemon alive
    w.on("message", (r: CheckReply) => {
      const job = this.sent.get(r.id);
      this.sent.delete(r.id);
      job?.resolve(r);
      this.pump();
    });
    // A thread that died fails what it held; the next check starts another.
    const lost = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      for (const job of this.sent.values()) job.resolve({ ok: false, why });
      this.sent.clear();
      if (!this.closed) this.pump();
    };
    w.on("error", (err) => lost(`checker failed: ${err.message}`));
    w.on("exit", (code) => lost(`checker exited (${code})`));
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.resolve({ ok: false, why: "checker closed" });
    const w = this.worker;
    if (w) await w.terminate();
  }
}
