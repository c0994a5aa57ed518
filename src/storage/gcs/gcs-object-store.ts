// ObjectStore (and ObjectWriter) for Google Cloud Storage. Reads — bucket
// check, listings, metadata, media — go over the JSON API directly (gcs-http);
// uploads use @google-cloud/storage, imported only when something is
// written. No layer retries here: RetryingObjectStore owns the one retry
// policy, with a deadline that fits inside the FUSE operation timeout.
// Ranged reads carry no checksum, so a short body is detected by length;
// whole-object reads are verified against CRC32C.
import type { File, FileMetadata, Storage } from "@google-cloud/storage";
import {
  BucketNotFoundError, IntegrityError, NotFoundError, PermissionError, PreconditionError, StorageError, TransientError, UnreachableError,
} from "../errors.js";
import { Crc32c } from "../../util/crc32c.js";
import { Chunks, appendView, type Bytes } from "../bytes.js";
import type { ByteRange, ByteSink, ListOptions, ListPage, ObjectInfo, ObjectStore, ObjectStreamer } from "../object-store.js";
import type { ObjectWriter, UploadSpec, UploadedObject } from "../object-writer.js";
import { AdcTokens, READ_ONLY_STORAGE, READ_WRITE_STORAGE, noCredentials } from "../../auth/tokens.js";
import { GcsHttp } from "./gcs-http.js";

export interface GcsObjectStoreOptions {
  bucket: string;
  /** e.g. a Private Service Connect endpoint, or the emulator; unset = Google. */
  endpoint?: string;
  /** No credentials at all (--anonymous for public buckets, or an emulator); else Application Default Credentials. */
  anonymous?: boolean;
  /** Uploads: credentials that may write (reads need only read access). */
  writes?: boolean;
  projectId?: string;
  /** Project billed for requests (requester-pays buckets): sent as userProject on every request. */
  userProject?: string;
}

export const GOOGLE_ENDPOINT = "https://storage.googleapis.com";

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const TRANSIENT = new Set(["ECONNRESET", "ETIMEDOUT", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE", "UND_ERR_SOCKET"]);

/** SDK and network errors (uploads) become the storage layer's typed errors. */
export function normalizeError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const e = err as { code?: number | string; message?: string };
  const msg = `${what}: ${e?.message ?? String(err)}`;
  const code = e?.code;
  if (typeof code === "number") {
    if (code === 404) return new NotFoundError(msg, { cause: err });
    if (code === 412) return new PreconditionError(msg, { cause: err });
    if (code === 401 || code === 403) return new PermissionError(msg, { cause: err });
    if (code === 408 || code === 429 || code >= 500) return new TransientError(msg, { cause: err });
    return new StorageError(msg, { cause: err });
  }
  if (typeof code === "string") {
    if (UNREACHABLE.has(code)) return new UnreachableError(msg, { cause: err });
    if (TRANSIENT.has(code)) return new TransientError(msg, { cause: err });
  }
  if (/socket hang up|premature close|aborted|terminated|ECONNRESET/i.test(msg)) return new TransientError(msg, { cause: err });
  return new StorageError(msg, { cause: err });
}

/** The JSON API's object resource, as far as som reads it. */
type ObjectResource = Pick<FileMetadata, "name" | "size" | "generation" | "updated" | "timeCreated" | "crc32c" | "md5Hash" | "contentType">;

export function objectInfo(md: ObjectResource): ObjectInfo {
  return {
    name: md.name!,
    size: Number(md.size ?? 0),
    generation: String(md.generation),
    updated: new Date(md.updated ?? md.timeCreated ?? 0),
    ...(md.crc32c ? { crc32c: md.crc32c } : {}),
    ...(md.md5Hash ? { md5Hash: md.md5Hash } : {}),
    ...(md.contentType ? { contentType: md.contentType } : {}),
  };
}

/** Above this, uploads are resumable (restartable in chunks) rather than one multipart request. */
const RESUMABLE_ABOVE = 8 * 1024 * 1024;
/** Only the fields a listing needs: less JSON to send and parse for big directories. */
const LIST_FIELDS = "items(name,size,generation,updated,timeCreated,crc32c,md5Hash,contentType),prefixes,nextPageToken";

export class GcsObjectStore implements ObjectStore, ObjectStreamer, ObjectWriter {
  readonly bucket: string;
  private readonly http: GcsHttp;
  private readonly endpoint: string | undefined;
  private storage: Promise<Storage> | undefined;

  constructor(private readonly opts: GcsObjectStoreOptions) {
    this.bucket = opts.bucket;
    this.endpoint = opts.endpoint;
    const tokens = opts.anonymous ? noCredentials : new AdcTokens([opts.writes ? READ_WRITE_STORAGE : READ_ONLY_STORAGE]);
    this.http = new GcsHttp((this.endpoint ?? GOOGLE_ENDPOINT).replace(/\/+$/, "").replace(/\/storage\/v1$/, ""), tokens, opts.userProject);
  }

  private objectPath(name: string): string {
    return `/storage/v1/b/${encodeURIComponent(this.bucket)}/o/${encodeURIComponent(name)}`;
  }

  async checkBucket(): Promise<void> {
    try {
      await this.http.json(`/storage/v1/b/${encodeURIComponent(this.bucket)}`, `bucket "${this.bucket}"`);
    } catch (err) {
      if (err instanceof NotFoundError) throw new BucketNotFoundError(`bucket "${this.bucket}" does not exist`, { cause: err });
      throw err;
    }
  }

  async list(opts: ListOptions): Promise<ListPage> {
    const q = new URLSearchParams({ prefix: opts.prefix, fields: LIST_FIELDS });
    if (opts.delimiter) q.set("delimiter", opts.delimiter);
    if (opts.pageToken) q.set("pageToken", opts.pageToken);
    if (opts.maxResults) q.set("maxResults", String(opts.maxResults));
    if (opts.startOffset) q.set("startOffset", opts.startOffset);
    if (opts.endOffset) q.set("endOffset", opts.endOffset);
    const r = await this.http.json<{ items?: ObjectResource[]; prefixes?: string[]; nextPageToken?: string }>(
      `/storage/v1/b/${encodeURIComponent(this.bucket)}/o?${q.toString()}`, `list gs://${this.bucket}/${opts.prefix}`);
    return {
      objects: (r.items ?? []).map(objectInfo),
      prefixes: r.prefixes ?? [],
      ...(r.nextPageToken ? { nextPageToken: r.nextPageToken } : {}),
    };
  }

  async stat(name: string): Promise<ObjectInfo> {
    return objectInfo(await this.http.json<ObjectResource>(this.objectPath(name), `stat gs://${this.bucket}/${name}`));
  }

  async read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer> {
    const bytes = await this.readBytes(name, generation, range, crc32c);
    return bytes instanceof Chunks ? bytes.toBuffer() : bytes;
  }

  async readBytes(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Bytes> {
    const what = `read gs://${this.bucket}/${name}#${generation}${range ? ` [${range.start},${range.end})` : ""}`;
    const parts: Buffer[] = [];
    const crc = !range && crc32c ? new Crc32c() : undefined;
    await this.http.mediaTo(this.bucket, name, generation, range, (c) => {
      crc?.update(c);
      appendView(parts, c);
    }, what);
    const bytes = new Chunks(parts);
    if (range && bytes.length !== range.end - range.start) {
      throw new TransientError(`${what}: got ${bytes.length} bytes, expected ${range.end - range.start}`);
    }
    if (crc && crc.base64() !== crc32c) throw new IntegrityError(`${what}: CRC32C ${crc.base64()} does not match the object's ${crc32c}`);
    return bytes;
  }

  stream(name: string, generation: string, range: ByteRange | undefined, sink: ByteSink): Promise<number> {
    const what = `read gs://${this.bucket}/${name}#${generation}${range ? ` [${range.start},${range.end})` : ""}`;
    return this.http.mediaTo(this.bucket, name, generation, range, sink, what);
  }

  private sdk(): Promise<Storage> {
    this.storage ??= import("@google-cloud/storage").then(({ Storage }) => new Storage({
      // A custom endpoint gets credentials too (a private endpoint), unless anonymous (an emulator).
      ...(this.endpoint ? { apiEndpoint: this.endpoint.replace(/\/+$/, "").replace(/\/storage\/v1$/, ""), useAuthWithCustomEndpoint: !this.opts.anonymous } : {}),
      ...(this.opts.projectId ? { projectId: this.opts.projectId } : this.endpoint ? { projectId: "som" } : {}),
      retryOptions: { autoRetry: false, maxRetries: 0 },
    }));
    return this.storage;
  }

  async upload(spec: UploadSpec): Promise<UploadedObject> {
    const what = `upload gs://${this.bucket}/${spec.name}`;
    let md: FileMetadata;
    try {
      // validation off: the SDK's own check deletes a mismatched object
      // without a precondition; the service checks the declared hashes and
      // the stored CRC32C is compared here.
      [, md] = await (await this.sdk()).bucket(this.bucket, this.opts.userProject ? { userProject: this.opts.userProject } : {}).upload(spec.path, {
        destination: spec.name,
        resumable: spec.size > RESUMABLE_ABOVE,
        validation: false,
        preconditionOpts: { ifGenerationMatch: Number(spec.ifGenerationMatch) },
        metadata: { contentType: spec.contentType, crc32c: spec.crc32c, md5Hash: spec.md5Hash },
        ...(spec.onProgress ? { onUploadProgress: () => spec.onProgress!() } : {}),
      }) as unknown as [File, FileMetadata];
    } catch (err) {
      throw normalizeError(err, what);
    }
    if (md.crc32c !== spec.crc32c) throw new IntegrityError(`${what}: stored CRC32C ${md.crc32c} differs from the file's ${spec.crc32c}`);
    return { info: objectInfo(md), resource: { ...md } };
  }

  async describe(name: string): Promise<UploadedObject> {
    const resource = await this.http.json<ObjectResource & Record<string, unknown>>(this.objectPath(name), `stat gs://${this.bucket}/${name}`);
    return { info: objectInfo(resource), resource };
  }
}
