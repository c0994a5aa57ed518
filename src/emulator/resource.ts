// JSON representations of buckets and objects, as the GCS JSON API writes them.
import type { ObjectTable, StoredObject } from "./object-table.js";

export function objectResource(base: string, bucket: string, o: StoredObject): Record<string, unknown> {
  const enc = encodeURIComponent(o.name);
  return {
    kind: "storage#object",
    id: `${bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/b/${bucket}/o/${enc}`,
    mediaLink: `${base}/download/storage/v1/b/${bucket}/o/${enc}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket,
    generation: o.generation,
    metageneration: o.metageneration,
    contentType: o.contentType,
    storageClass: "STANDARD",
    size: String(o.size),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: etagOf(o),
    timeCreated: o.timeCreated.toISOString(),
    updated: o.updated.toISOString(),
    timeStorageClassUpdated: o.timeCreated.toISOString(),
    ...(o.metadata ? { metadata: o.metadata } : {}),
  };
}

/** GCS etags are opaque; this one changes with generation and metageneration. */
export function etagOf(o: StoredObject): string {
  return Buffer.from(`${o.generation}/${o.metageneration}`).toString("base64");
}

export function bucketResource(base: string, b: ObjectTable, requesterPays = false): Record<string, unknown> {
  return {
    kind: "storage#bucket",
    id: b.name,
    selfLink: `${base}/storage/v1/b/${b.name}`,
    projectNumber: "0",
    name: b.name,
    timeCreated: b.created.toISOString(),
    updated: b.created.toISOString(),
    metageneration: "1",
    location: "US",
    locationType: "multi-region",
    storageClass: "STANDARD",
    etag: "CAE=",
    iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, bucketPolicyOnly: { enabled: true }, publicAccessPrevention: "inherited" },
    ...(requesterPays ? { billing: { requesterPays: true } } : {}),
  };
}

export function errorBody(status: number, message: string, reason: string): string {
  return JSON.stringify({ error: { code: status, message, errors: [{ message, domain: "global", reason }] } });
}
