// som upload: publish files as one entity of a collection (objects under the
// som names plus Datastore records). The work is in publish/publisher.ts.
import { Command, Option } from "commander";
import { DatastoreMetadata } from "../metadata/datastore/datastore-metadata.js";
import { normalizePrefix } from "../namespace/raw-layout.js";
import { Publisher, type PublishRequest } from "../publish/publisher.js";
import { GcsObjectStore } from "../storage/gcs/gcs-object-store.js";
import { systemClock } from "../util/clock.js";
import { StreamLogger } from "../util/log.js";
import { formatSize } from "../util/size.js";
import { checkBucket, datastoreProject, jsonObject, positiveInt, storageTarget, billingArg } from "./common.js";
import { UsageError, setDebug } from "./errors.js";

interface UploadFlags {
  project?: string;
  bucket: string;
  collection: string;
  entity: string;
  metadata?: string;
  entityMetadata?: string;
  collectionMetadata?: string;
  kind: string;
  replace?: boolean;
  objectsOnly?: boolean;
  prefix?: string;
  endpoint?: string;
  billingProject?: string;
  jobs: string;
  quiet?: boolean;
  debug?: boolean;
}

export function uploadCommand(): Command {
  return new Command("upload")
    .description("publish files as an entity of a collection: objects Collection/<c>/Entity/<e>/<file> and their Datastore records")
    .argument("<files...>", "files to publish (stored under their base names)")
    .option("--project <id>", "Datastore project for the records (default: $GOOGLE_CLOUD_PROJECT, $DATASTORE_PROJECT_ID)")
    .requiredOption("--bucket <bucket>", "destination bucket")
    .requiredOption("--collection <name>", "collection (e.g. the IRB number)")
    .requiredOption("--entity <name>", "entity (e.g. the coded patient id)")
    .option("--metadata <json>", "custom fields for every Image/Text record, e.g. '{\"Modality\":\"CT\"}'")
    .option("--entity-metadata <json>", "custom fields for the Entity record")
    .option("--collection-metadata <json>", "custom fields for the Collection record")
    .addOption(new Option("--kind <kind>", "record kind; auto = Text for text files, Image otherwise").choices(["auto", "Image", "Text"]).default("auto"))
    .option("--replace", "overwrite objects whose content differs (default: refuse)")
    .option("--objects-only", "write no Datastore records")
    .option("--prefix <prefix>", "the som tree lives under this prefix of the bucket")
    .option("--endpoint <url>", "storage endpoint (default: $STORAGE_EMULATOR_HOST, else Google)")
    .option("--billing-project <id>", "project billed for requests to a requester-pays bucket (sent as userProject)")
    .option("--jobs <n>", "parallel uploads", "8")
    .option("--quiet", "print nothing but errors")
    .option("--debug", "verbose logging and stack traces")
    .action(async (files: string[], f: UploadFlags) => {
      f.debug ||= process.argv.includes("--debug");
      setDebug(!!f.debug);
      checkBucket(f.bucket);
      const project = datastoreProject(f.project);
      if (!project && !f.objectsOnly) throw new UsageError("--project is required for the records (or $GOOGLE_CLOUD_PROJECT); use --objects-only to upload without records");
      const req: PublishRequest = {
        collection: f.collection, entity: f.entity, files, kind: f.kind as PublishRequest["kind"],
        replace: !!f.replace, jobs: positiveInt("--jobs", f.jobs), prefix: normalizePrefix(f.prefix),
      };
      const image = jsonObject("--metadata", f.metadata);
      const entity = jsonObject("--entity-metadata", f.entityMetadata);
      const collection = jsonObject("--collection-metadata", f.collectionMetadata);
      if (image) req.imageFields = image;
      if (entity) req.entityFields = entity;
      if (collection) req.collectionFields = collection;

      const log = new StreamLogger(f.debug ? "debug" : f.quiet ? "error" : "warn");
      const writer = new GcsObjectStore({ bucket: f.bucket, writes: true, ...storageTarget(f.endpoint), ...(f.billingProject !== undefined ? { userProject: billingArg(f.billingProject) } : {}), ...(project ? { projectId: project } : {}) });
      const sink = project && !f.objectsOnly
        ? new DatastoreMetadata({ project, rpcTimeoutMs: 30_000, clock: systemClock, log })
        : undefined;
      const publisher = new Publisher({ writer, ...(sink ? { sink } : {}), clock: systemClock, log });
      const done = await publisher.publish(req);
      await sink?.close();
      if (f.quiet) return;
      const count = (o: string): number => done.filter((d) => d.outcome === o).length;
      const bytes = done.reduce((n, d) => n + d.size, 0);
      const where = `gs://${f.bucket}/${req.prefix}Collection/${f.collection}/Entity/${f.entity}/`;
      process.stdout.write(
        `Published ${done.length} files (${formatSize(bytes)}) to ${where}: ${count("uploaded")} uploaded, ${count("unchanged")} unchanged, ${count("replaced")} replaced` +
        `${sink ? `; records written to Datastore project ${project}` : "; no records (--objects-only)"}\n`,
      );
    });
}
