// The writing role of an object store, used by `som upload`. Every write
// carries a generation precondition (create-only, or replace exactly this
// generation) and the client's CRC32C and MD5, so the service rejects
// corrupted bodies and a retried write can never clobber someone else's.
import type { ObjectInfo } from "./object-store.js";

export interface UploadSpec {
  /** Object name in the bucket. */
  name: string;
  /** Local file whose bytes are sent. */
  path: string;
  size: number;
  /** base64 big-endian CRC32C and base64 MD5 of the file. */
  crc32c: string;
  md5Hash: string;
  contentType: string;
  /** "0" = only if there is no live object; otherwise only if this generation is live. */
  ifGenerationMatch: string;
  /** Called as bytes are sent (a retry deadline restarts on progress). */
  onProgress?: () => void;
}

export interface UploadedObject {
  info: ObjectInfo;
  /** The object resource exactly as the service returned it (for storage_* record fields). */
  resource: Record<string, unknown>;
}

export interface ObjectWriter {
  readonly bucket: string;
  /**
   * Throws PreconditionError when ifGenerationMatch does not hold,
   * IntegrityError when the service stored a different CRC32C.
   */
  upload(spec: UploadSpec): Promise<UploadedObject>;
  /** The live generation's resource. Throws NotFoundError. */
  describe(name: string): Promise<UploadedObject>;
}
