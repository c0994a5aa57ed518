// Executes a GetPlan: every file fetched in parallel (small objects whole and
// CRC32C-verified in memory, big ones as parallel ranged parts written in
// place and verified from disk), each under a temporary name and renamed
// only when complete and verified, so a killed run never leaves a truncated
// file under its final name. A rerun skips files whose size and CRC32C
// already match and fetches no bytes for them.
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { IntegrityError, NotFoundError } from "../storage/errors.js";
import type { ObjectStore } from "../storage/object-store.js";
import { Crc32c } from "../util/crc32c.js";
import type { Logger } from "../util/log.js";
import type { FileTask, GetPlan } from "./plan.js";
import type { Progress } from "./progress.js";

export interface DownloadOptions {
  outDir: string;
  /** Requests in flight. */
  jobs: number;
  /** Objects above this are fetched as parallel ranged parts... */
  partThreshold: number;
  /** ...of this size. */
  partSize: number;
}

export const defaultDownloadOptions = { jobs: 16, partThreshold: 16 * 2 ** 20, partSize: 8 * 2 ** 20 };

export interface FileOutcome {
  task: FileTask;
  status: "downloaded" | "complete" | "failed";
  error?: string;
}

const TEMP_SUFFIX = ".som-partial";

/** Where a file is written until it is complete: a hidden name beside it. */
export function tempPathOf(path: string): string {
  return join(dirname(path), `.${basename(path)}${TEMP_SUFFIX}`);
}

async function crc32cOfFile(path: string): Promise<string> {
  const crc = new Crc32c();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) crc.update(chunk as Buffer);
  return crc.base64();
}

/** Whether `path` already holds exactly this object (size, then CRC32C). */
async function isComplete(path: string, task: FileTask): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile() || st.size !== task.object.size) return false;
  return task.object.crc32c === undefined || (await crc32cOfFile(path)) === task.object.crc32c;
}

/** A unit of work for the pool: a whole small file, or one part of a big one. */
type Unit = { kind: "whole"; file: FileJob } | { kind: "part"; file: FileJob; start: number; end: number };

interface FileJob {
  task: FileTask;
  path: string;
  temp: string;
  partsLeft: number;
  handle?: Promise<FileHandle>;
  failed?: string;
  done: (o: FileOutcome) => void;
}

export class Downloader {
  constructor(private readonly store: ObjectStore, private readonly log: Logger, private readonly progress: Progress) {}

  async run(plan: GetPlan, opts: DownloadOptions): Promise<FileOutcome[]> {
    const dirs = new Set([...plan.files, ...plan.sidecars].map((t) => dirname(join(opts.outDir, t.dest))));
    await Promise.all([...dirs].map((d) => mkdir(d, { recursive: true })));
    await Promise.all(plan.sidecars.map((s) => this.writeSidecar(join(opts.outDir, s.dest), s.data)));

    // Already complete files are checked first so the progress total is what remains.
    const outcomes: FileOutcome[] = [];
    const todo: FileTask[] = [];
    await pool(plan.files, opts.jobs, async (task) => {
      if (await isComplete(join(opts.outDir, task.dest), task)) outcomes.push({ task, status: "complete" });
      else todo.push(task);
    });
    if (outcomes.length) this.log.debug(`${outcomes.length} files already complete; not fetched`);
    this.progress.begin(todo.length, todo.reduce((n, t) => n + t.object.size, 0));

    const units: Unit[] = [];
    const finished: Promise<FileOutcome>[] = [];
    for (const task of todo) {
      const path = join(opts.outDir, task.dest);
      let done!: (o: FileOutcome) => void;
      finished.push(new Promise<FileOutcome>((r) => (done = r)));
      const file: FileJob = { task, path, temp: tempPathOf(path), partsLeft: 0, done };
      const size = task.object.size;
      if (size <= opts.partThreshold) {
        units.push({ kind: "whole", file });
      } else {
        for (let start = 0; start < size; start += opts.partSize) {
          units.push({ kind: "part", file, start, end: Math.min(size, start + opts.partSize) });
          file.partsLeft++;
        }
      }
    }
    await pool(units, opts.jobs, (u) => (u.kind === "whole" ? this.whole(u.file) : this.part(u.file, u.start, u.end)));
    outcomes.push(...(await Promise.all(finished)));
    this.progress.end();
    return outcomes;
  }

  private async writeSidecar(path: string, data: Buffer): Promise<void> {
    const existing = await readFile(path).catch(() => undefined);
    if (existing?.equals(data)) return;
    const temp = tempPathOf(path);
    await writeFile(temp, data);
    await rename(temp, path);
  }

  private async whole(file: FileJob): Promise<void> {
    const { object } = file.task;
    try {
      // Verified against the object's CRC32C before a byte is written.
      const data = await this.store.read(object.name, object.generation, undefined, object.crc32c);
      this.progress.bytes(data.length);
      await writeFile(file.temp, data);
      await rename(file.temp, file.path);
      this.progress.fileDone();
      file.done({ task: file.task, status: "downloaded" });
    } catch (err) {
      await rm(file.temp, { force: true });
      file.done({ task: file.task, status: "failed", error: describeFailure(err) });
    }
  }

  private async part(file: FileJob, start: number, end: number): Promise<void> {
    const { object } = file.task;
    try {
      if (file.failed) return;
      file.handle ??= open(file.temp, "w");
      const fh = await file.handle;
      const data = await this.store.read(object.name, object.generation, { start, end });
      this.progress.bytes(data.length);
      await fh.write(data, 0, data.length, start);
    } catch (err) {
      file.failed ??= describeFailure(err);
    } finally {
      if (--file.partsLeft === 0) await this.finishParts(file);
    }
  }

  private async finishParts(file: FileJob): Promise<void> {
    const fail = async (error: string): Promise<void> => {
      await rm(file.temp, { force: true });
      file.done({ task: file.task, status: "failed", error });
    };
    try {
      await (await file.handle)?.close();
    } catch (err) {
      file.failed ??= describeFailure(err);
    }
    if (file.failed) return fail(file.failed);
    // Ranged reads carry no checksum: the assembled file is checked whole.
    const want = file.task.object.crc32c;
    if (want !== undefined) {
      const got = await crc32cOfFile(file.temp);
      if (got !== want) return fail(`CRC32C of the assembled file is ${got}, the object's is ${want}`);
    }
    await rename(file.temp, file.path);
    this.progress.fileDone();
    file.done({ task: file.task, status: "downloaded" });
  }
}

function describeFailure(err: unknown): string {
  if (err instanceof NotFoundError) return "the object is no longer in the bucket (deleted or replaced since it was listed)";
  if (err instanceof IntegrityError) return `its bytes did not match its CRC32C after retries (${err.message})`;
  return err instanceof Error ? err.message : String(err);
}

/** Runs `work` over items with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
