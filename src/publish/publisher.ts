// Publishing a study the som way: each file becomes the object
// Collection/<c>/Entity/<e>/<file> and an Image (or Text) record keyed by that
// object name, with storage_* fields from the upload response; the Collection
// and Entity records are created or updated (created kept, updated bumped,
// custom fields merged).
//
// Objects go first, records after, so a record never points at an object
// that failed. Uploads are create-only (ifGenerationMatch=0): rerunning after
// a partial run, or retrying after a lost response, finds the object with the
// same CRC32C and moves on; different bytes under the same name are refused
// unless `replace`, which then replaces exactly the generation it saw.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import { isValidName } from "../namespace/namespace.js";
import type { MetadataSink } from "../metadata/metadata-store.js";
import { fromJson, str, timestamp, type JsonValue, type MetadataRecord, type Properties } from "../metadata/record.js";
import { collectionKey, entityKey, entityPrefix, fileKey, storageFields, type FileKind } from "../metadata/som-model.js";
import { PreconditionError, TransientError } from "../storage/errors.js";
import type { ObjectWriter, UploadedObject } from "../storage/object-writer.js";
import type { Clock } from "../util/clock.js";
import { Crc32c } from "../util/crc32c.js";
import type { Logger } from "../util/log.js";
import { withRetries, type RetryPolicy } from "../util/retry.js";

export class PublishError extends Error {}

export interface PublishRequest {
  collection: string;
  entity: string;
  files: string[];
  /** Record kind; auto = Text for text/* files (reports), Image otherwise. */
  kind: FileKind | "auto";
  imageFields?: Record<string, JsonValue>;
  entityFields?: Record<string, JsonValue>;
  collectionFields?: Record<string, JsonValue>;
  /** Replace objects whose bytes differ instead of refusing. */
  replace: boolean;
  /** Parallel uploads. */
  jobs: number;
  /** Object-name prefix the som tree lives under ("" = bucket root). */
  prefix: string;
}

export interface PublishedFile {
  path: string;
  objectName: string;
  outcome: "uploaded" | "unchanged" | "replaced";
  size: number;
  crc32c: string;
}

export interface PublisherDeps {
  writer: ObjectWriter;
  /** Without one only objects are written (no records). */
  sink?: MetadataSink;
  clock: Clock;
  log: Logger;
  /** Tests only; otherwise the one retry policy. */
  retry?: RetryPolicy;
  now?: () => Date;
}

const CONTENT_TYPES: Record<string, string> = {
  ".dcm": "application/dicom", ".txt": "text/plain", ".json": "application/json", ".csv": "text/csv",
  ".xml": "application/xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".nii": "application/octet-stream",
};
/** Datastore's limit on mutations in one commit. */
const RECORDS_PER_COMMIT = 500;

export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

async function hashFile(path: string): Promise<{ crc32c: string; md5Hash: string }> {
  const crc = new Crc32c();
  const md5 = createHash("md5");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    crc.update(chunk as Buffer);
    md5.update(chunk as Buffer);
  }
  return { crc32c: crc.base64(), md5Hash: md5.digest("base64") };
}

function fields(json: Record<string, JsonValue> | undefined): Properties {
  return Object.fromEntries(Object.entries(json ?? {}).map(([k, v]) => [k, fromJson(v)]));
}

export class Publisher {
  constructor(private readonly deps: PublisherDeps) {}

  async publish(req: PublishRequest): Promise<PublishedFile[]> {
    for (const [what, name] of [["collection", req.collection], ["entity", req.entity]] as const) {
      if (!isValidName(name)) throw new PublishError(`invalid ${what} name ${JSON.stringify(name)}: it must be usable as a folder name (no "/", not "." or "..")`);
    }
    const names = new Map<string, string>();
    for (const f of req.files) {
      const b = basename(f);
      const other = names.get(b);
      if (other !== undefined) throw new PublishError(`${other} and ${f} would both be stored as ${b}`);
      names.set(b, f);
    }
    const prefix = entityPrefix(req.prefix, req.collection, req.entity);
    const results: { file: PublishedFile; object: UploadedObject }[] = [];
    const queue = [...req.files];
    const worker = async (): Promise<void> => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
        results.push(await this.uploadOne(f, prefix + basename(f), req.replace));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(req.jobs, req.files.length)) }, worker));
    if (this.deps.sink) await this.writeRecords(this.deps.sink, req, results);
    const order = new Map(req.files.map((f, i) => [f, i]));
    return results.map((r) => r.file).sort((a, b) => order.get(a.path)! - order.get(b.path)!);
  }

  private async uploadOne(path: string, objectName: string, replace: boolean): Promise<{ file: PublishedFile; object: UploadedObject }> {
    const { writer, log } = this.deps;
    const st = await stat(path);
    if (!st.isFile()) throw new PublishError(`${path} is not a regular file`);
    const { crc32c, md5Hash } = await hashFile(path);
    const spec = { name: objectName, path, size: st.size, crc32c, md5Hash, contentType: contentTypeOf(path) };
    const where = `gs://${writer.bucket}/${objectName}`;
    let generation = "0";
    let outcome: PublishedFile["outcome"] = "uploaded";
    for (;;) {
      try {
        const object = await this.retrying(`upload ${where}`, (progress) => writer.upload({ ...spec, ifGenerationMatch: generation, onProgress: progress }));
        log.debug(`${where}: ${outcome} (generation ${object.info.generation})`);
        return { file: { path, objectName, outcome, size: st.size, crc32c }, object };
      } catch (err) {
        if (!(err instanceof PreconditionError)) throw err;
        // Someone (maybe our own earlier attempt whose answer was lost) wrote it.
        const live = await this.retrying(`stat ${where}`, () => writer.describe(objectName));
        if (live.info.crc32c === crc32c && live.info.size === st.size) {
          log.debug(`${where}: already there with the same CRC32C`);
          return { file: { path, objectName, outcome: outcome === "replaced" ? "replaced" : "unchanged", size: st.size, crc32c }, object: live };
        }
        if (!replace) throw new PublishError(`${where} already exists with different content (CRC32C ${live.info.crc32c}, this file ${crc32c}); use --replace to overwrite it`);
        if (generation === live.info.generation) throw err;
        generation = live.info.generation;
        outcome = "replaced";
      }
    }
  }

  private retrying<T>(what: string, op: (progress: () => void) => Promise<T>): Promise<T> {
    return withRetries({ clock: this.deps.clock, log: this.deps.log, ...(this.deps.retry ? { policy: this.deps.retry } : {}) }, what, (e) => e instanceof TransientError, op);
  }

  private async writeRecords(sink: MetadataSink, req: PublishRequest, uploaded: { file: PublishedFile; object: UploadedObject }[]): Promise<void> {
    const now = timestamp((this.deps.now ?? (() => new Date()))());
    const { collection: c, entity: e } = req;
    /** Keeps `created` and fields nobody set now; bumps `updated`. */
    const merge = (current: MetadataRecord | undefined, key: MetadataRecord["key"], props: Properties): MetadataRecord => ({
      key,
      properties: { ...current?.properties, ...props, created: current?.properties.created ?? now, updated: now },
    });
    await sink.transact([collectionKey(c), entityKey(c, e)], ([col, ent]) => [
      merge(col, collectionKey(c), { uid: str(c), ...fields(req.collectionFields) }),
      merge(ent, entityKey(c, e), { uid: str(e), ...fields(req.entityFields) }),
    ]);
    const bucket = this.deps.writer.bucket;
    const custom = fields(req.imageFields);
    for (let i = 0; i < uploaded.length; i += RECORDS_PER_COMMIT) {
      const batch = uploaded.slice(i, i + RECORDS_PER_COMMIT).map(({ file, object }) => {
        const kind: FileKind = req.kind !== "auto" ? req.kind : (object.info.contentType ?? contentTypeOf(file.path)).startsWith("text/") ? "Text" : "Image";
        const props: Properties = {
          uid: str(file.objectName),
          url: str(`https://storage.googleapis.com/${bucket}/${file.objectName.split("/").map(encodeURIComponent).join("/")}`, false),
          ...Object.fromEntries(Object.entries(storageFields(object.resource)).map(([k, v]) => [k, str(v)])),
          ...custom,
        };
        return { key: fileKey(c, e, kind, file.objectName), props };
      });
      await sink.transact(batch.map((b) => b.key), (current) => batch.map((b, j) => merge(current[j], b.key, b.props)));
    }
  }
}
