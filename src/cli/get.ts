// som get: download one patient's (or one accession's) images and metadata,
// compatible with the original som tools' flags and messages. The work is
// in get/plan.ts (what to fetch) and get/downloader.ts (fetching it).
import { resolve } from "node:path";
import { Command } from "commander";
import { Downloader, defaultDownloadOptions } from "../get/downloader.js";
import { NothingFoundError, planGet } from "../get/plan.js";
import { printable } from "../util/printable.js";
import { BarProgress, LineProgress, silentProgress, type Progress } from "../get/progress.js";
import { DatastoreMetadata } from "../metadata/datastore/datastore-metadata.js";
import { normalizePrefix } from "../namespace/raw-layout.js";
import { GcsObjectStore } from "../storage/gcs/gcs-object-store.js";
import { RetryingObjectStore } from "../storage/retrying-object-store.js";
import { systemClock } from "../util/clock.js";
import { StreamLogger } from "../util/log.js";
import { formatSize } from "../util/size.js";
import { checkBucket, datastoreProject, positiveInt, storageTarget, billingArg } from "./common.js";
import { UsageError, setDebug } from "./errors.js";

interface GetFlags {
  outfolder?: string;
  project?: string;
  suid: string;
  queryImages?: boolean;
  bucket: string;
  collection: string;
  jobs: string;
  prefix?: string;
  endpoint?: string;
  billingProject?: string;
  quiet?: boolean;
  debug?: boolean;
}


/** Exit status when some files failed but the rest were kept. */
export class PartialFailure extends Error {}

export function getCommand(): Command {
  return new Command("get")
    .description("download data from storage and datastore: one entity's images and metadata (or one accession's, with --query-images)")
    .option("--outfolder <dir>", "folder for the output; <outfolder>/<collection>/<entity>/<file> (default: current folder)")
    .option("--project <id>", "name of the Google Cloud project (default: $GOOGLE_CLOUD_PROJECT, $DATASTORE_PROJECT_ID)")
    .requiredOption("--suid <suid>", "the suid of an entity (or, with --query-images, an AccessionNumber)")
    .option("--query-images", "match Image records by AccessionNumber instead of entities by uid")
    .requiredOption("--bucket <bucket>", "name of the storage bucket")
    .requiredOption("--collection <name>", "name of the collection (e.g. IRB33192)")
    .option("--jobs <n>", "requests in flight", String(defaultDownloadOptions.jobs))
    .option("--prefix <prefix>", "the som tree lives under this prefix of the bucket")
    .option("--endpoint <url>", "storage endpoint (default: $STORAGE_EMULATOR_HOST, else Google)")
    .option("--billing-project <id>", "project billed for requests to a requester-pays bucket (sent as userProject)")
    .option("--quiet", "print nothing but errors")
    .option("--debug", "verbose logging and stack traces")
    .action(async (f: GetFlags) => {
      f.debug ||= process.argv.includes("--debug");
      setDebug(!!f.debug);
      checkBucket(f.bucket);
      const project = datastoreProject(f.project);
      if (!project) throw new UsageError("--project is required (or set $GOOGLE_CLOUD_PROJECT)");
      const jobs = positiveInt("--jobs", f.jobs);
      const outDir = resolve(f.outfolder ?? ".");
      const say = (s: string): void => {
        if (!f.quiet) process.stdout.write(s);
      };
      const log = new StreamLogger(f.debug ? "debug" : f.quiet ? "error" : "warn");
      const gcs = new GcsObjectStore({ bucket: f.bucket, projectId: project, ...storageTarget(f.endpoint), ...(f.billingProject !== undefined ? { userProject: billingArg(f.billingProject) } : {}) });
      const store = new RetryingObjectStore(gcs, systemClock, log);
      const metadata = new DatastoreMetadata({ project, rpcTimeoutMs: 30_000, clock: systemClock, log });
      try {
        say("Collecting available images...\n");
        const plan = await planGet(store, metadata, { collection: f.collection, suid: f.suid, queryImages: !!f.queryImages, prefix: normalizePrefix(f.prefix) });
        const progress: Progress = f.quiet ? silentProgress : process.stdout.isTTY ? new BarProgress((s) => say(s)) : new LineProgress((s) => say(s));
        const started = performance.now();
        // Downloads start as soon as the listings are in; the records follow.
        const downloading = new Downloader({ store: gcs, log, progress, clock: systemClock })
          .run(plan.files, plan.records.then((r) => r.sidecars), { ...defaultDownloadOptions, outDir, jobs });
        downloading.catch(() => undefined); // awaited below, after the records
        const records = await plan.records;
        const total = plan.files.length + records.missing.length;
        say(`Found ${total} images for suid ${f.suid} in collection ${f.collection}\n`);
        progress.begin(plan.files.length, plan.files.reduce((n, t) => n + t.object.size, 0));
        const outcomes = await downloading;
        progress.end();
        const secs = (performance.now() - started) / 1000;
        const fetched = outcomes.filter((o) => o.status === "downloaded");
        const bytes = fetched.reduce((n, o) => n + o.task.object.size, 0);
        const complete = outcomes.filter((o) => o.status === "complete").length;
        say(`Downloaded ${fetched.length} files (${formatSize(bytes)}) in ${secs.toFixed(1)} s (${formatSize(bytes / Math.max(secs, 0.001))}/s)` +
          `${complete ? `; ${complete} already complete` : ""}; ${records.sidecars.length} metadata files; saved to ${outDir}/${f.collection}\n`);

        const problems: string[] = [];
        for (const o of outcomes) if (o.status === "failed") problems.push(`gs://${f.bucket}/${o.task.object.name}: ${o.error}`);
        for (const m of records.missing) problems.push(`gs://${f.bucket}/${m}: a record names it, but the bucket has no such object`);
        for (const r of plan.refused) problems.push(`gs://${f.bucket}/${printable(r.name)}: refused, not written: ${r.reason}, so it would land outside ${outDir}`);
        if (problems.length) {
          throw new PartialFailure(`${problems.length} of ${total + plan.refused.length} files were not saved (the others were):\n  ${problems.join("\n  ")}`);
        }
      } catch (err) {
        if (err instanceof NothingFoundError) throw new UsageError(err.message);
        throw err;
      } finally {
        await metadata.close();
      }
    });
}
