// ObjectStore over @google-cloud/storage. The SDK's own retries are off: the
// RetryingObjectStore decorator owns the one retry policy, with a deadline that
// fits inside the FUSE operation timeout. Ranged reads are never hash-checked
// by the SDK, so a short body is detected here by length and whole-object
// reads are verified by the caller against CRC32C.
import { Storage, type File, type FileMetadata } from "@google-cloud/storage";
import {
  BucketNotFoundError, IntegrityError, NotFoundError, PermissionError, PreconditionError, StorageError, TransientError, UnreachableError,
} from "../errors.js";
import { verifyCrc32c } from "../integrity.js";
import type { ByteRange, ListOptions, ListPage, ObjectInfo, ObjectStore } from "../object-store.js";
import type { ObjectWriter, UploadSpec, UploadedObject } from "../object-writer.js";

export interface GcsObjectStoreOptions {
  bucket: string;
  /** e.g. http://127.0.0.1:9000 for the emulator; unset = Google with Application Default Credentials. */
  endpoint?: string;
  /** No credentials at all (public buckets). */
  anonymous?: boolean;
  projectId?: string;
}

const GOOGLE_ENDPOINT = "https://storage.googleapis.com";

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const TRANSIENT = new Set(["ECONNRESET", "ETIMEDOUT", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE", "UND_ERR_SOCKET"]);

/** SDK and network errors become the storage layer's typed errors. */
export function normalizeError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const e = err as { code?: number | string; message?: string; errors?: { reason?: string }[] };
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

export function objectInfo(md: FileMetadata): ObjectInfo {
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

export class GcsObjectStore implements ObjectStore, ObjectWriter {
  readonly bucket: string;
  private readonly storage: Storage;

  constructor(opts: GcsObjectStoreOptions) {
    this.bucket = opts.bucket;
    // With apiEndpoint set the SDK sends no credentials: right for the
    // emulator, and how --anonymous reaches public buckets on Google.
    const endpoint = opts.endpoint ?? (opts.anonymous ? GOOGLE_ENDPOINT : undefined);
    this.storage = new Storage({
      ...(endpoint ? { apiEndpoint: endpoint.replace(/\/+$/, "").replace(/\/storage\/v1$/, "") } : {}),
      ...(opts.projectId ? { projectId: opts.projectId } : endpoint ? { projectId: "som" } : {}),
      retryOptions: { autoRetry: false, maxRetries: 0 },
    });
  }

  private file(name: string, generation?: string): File {
    return this.storage.bucket(this.bucket).file(name, generation ? { generation: Number(generation) } : {});
  }

  async checkBucket(): Promise<void> {
    try {
      await this.storage.bucket(this.bucket).getMetadata();
    } catch (err) {
      const e = normalizeError(err, `bucket "${this.bucket}"`);
      if (e instanceof NotFoundError) throw new BucketNotFoundError(`bucket "${this.bucket}" does not exist`, { cause: err });
      throw e;
    }
  }

  async list(opts: ListOptions): Promise<ListPage> {
    try {
      const [files, , resp] = await this.storage.bucket(this.bucket).getFiles({
        autoPaginate: false,
        prefix: opts.prefix,
        ...(opts.delimiter ? { delimiter: opts.delimiter } : {}),
        ...(opts.pageToken ? { pageToken: opts.pageToken } : {}),
        ...(opts.maxResults ? { maxResults: opts.maxResults } : {}),
        ...(opts.startOffset ? { startOffset: opts.startOffset } : {}),
        ...(opts.endOffset ? { endOffset: opts.endOffset } : {}),
      });
      const r = resp as { prefixes?: string[]; nextPageToken?: string } | undefined;
      return {
        objects: files.map((f) => objectInfo(f.metadata)),
        prefixes: r?.prefixes ?? [],
        ...(r?.nextPageToken ? { nextPageToken: r.nextPageToken } : {}),
      };
    } catch (err) {
      throw normalizeError(err, `list gs://${this.bucket}/${opts.prefix}`);
    }
  }

  async stat(name: string): Promise<ObjectInfo> {
    try {
      const [md] = await this.file(name).getMetadata();
      return objectInfo(md);
    } catch (err) {
      throw normalizeError(err, `stat gs://${this.bucket}/${name}`);
    }
  }

  async read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer> {
    const what = `read gs://${this.bucket}/${name}#${generation}${range ? ` [${range.start},${range.end})` : ""}`;
    let buf: Buffer;
    try {
      [buf] = await this.file(name, generation).download({
        validation: false,
        ...(range ? { start: range.start, end: range.end - 1 } : {}),
      });
    } catch (err) {
      throw normalizeError(err, what);
    }
    if (range && buf.length !== range.end - range.start) {
      throw new TransientError(`${what}: got ${buf.length} bytes, expected ${range.end - range.start}`);
    }
    if (!range) verifyCrc32c(buf, crc32c, what);
    return buf;
  }

  async upload(spec: UploadSpec): Promise<UploadedObject> {
    const what = `upload gs://${this.bucket}/${spec.name}`;
    let md: FileMetadata;
    try {
      // validation off: the SDK's own check deletes a mismatched object
      // without a precondition; the service checks the declared hashes and
      // the stored CRC32C is compared here.
      [, md] = await this.storage.bucket(this.bucket).upload(spec.path, {
        destination: spec.name,
        resumable: spec.size > RESUMABLE_ABOVE,
        validation: false,
        preconditionOpts: { ifGenerationMatch: Number(spec.ifGenerationMatch) },
        metadata: { contentType: spec.contentType, crc32c: spec.crc32c, md5Hash: spec.md5Hash },
      }) as unknown as [File, FileMetadata];
    } catch (err) {
      throw normalizeError(err, what);
    }
    if (md.crc32c !== spec.crc32c) throw new IntegrityError(`${what}: stored CRC32C ${md.crc32c} differs from the file's ${spec.crc32c}`);
    return { info: objectInfo(md), resource: { ...md } };
  }

  async describe(name: string): Promise<UploadedObject> {
    try {
      const [md] = await this.file(name).getMetadata();
      return { info: objectInfo(md), resource: { ...md } };
    } catch (err) {
      throw normalizeError(err, `stat gs://${this.bucket}/${name}`);
    }
  }
}
