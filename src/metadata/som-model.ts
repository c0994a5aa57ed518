// The som data model: where a study's objects live and how its records are
// keyed, as the Stanford som tools wrote them.
import type { KeyPath } from "./record.js";

export type FileKind = "Image" | "Text";

export const collectionKey = (c: string): KeyPath => [{ kind: "Collection", name: c }];
export const entityKey = (c: string, e: string): KeyPath => [...collectionKey(c), { kind: "Entity", name: e }];
/** Image (or Text, for reports) records are keyed by the whole object name. */
export const fileKey = (c: string, e: string, kind: FileKind, objectName: string): KeyPath => [...entityKey(c, e), { kind, name: objectName }];

/** Object-name prefix of an entity: [prefix]Collection/<c>/Entity/<e>/ */
export function entityPrefix(bucketPrefix: string, c: string, e: string): string {
  return `${bucketPrefix}Collection/${c}/Entity/${e}/`;
}

/** The record properties copied from a GCS object resource: storage_<field>, as strings. */
export function storageFields(resource: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(resource)) {
    if (value === undefined || value === null || field === "metadata" || field === "acl") continue;
    // The som tools' names for the two links.
    const name = field === "mediaLink" ? "download" : field === "selfLink" ? "metadataLink" : field;
    out[`storage_${name}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return out;
}
