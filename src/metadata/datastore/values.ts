// Datastore's REST (JSON) representation <-> RecordValue. The JSON form keeps
// everything: int64s are decimal strings, timestamps RFC 3339 strings with up
// to nanoseconds, blobs base64.
import type { KeyElement, KeyPath, MetadataRecord, Properties, RecordValue } from "../record.js";

export interface JsonKey {
  partitionId?: { projectId?: string; databaseId?: string; namespaceId?: string };
  path?: { kind?: string; name?: string; id?: string }[];
}

export interface JsonValue {
  nullValue?: null;
  booleanValue?: boolean;
  integerValue?: string;
  doubleValue?: number | string;
  timestampValue?: string;
  stringValue?: string;
  blobValue?: string;
  keyValue?: JsonKey;
  geoPointValue?: { latitude?: number; longitude?: number };
  entityValue?: { properties?: Record<string, JsonValue> };
  arrayValue?: { values?: JsonValue[] };
  excludeFromIndexes?: boolean;
  meaning?: number;
}

export interface JsonEntity {
  key?: JsonKey;
  properties?: Record<string, JsonValue>;
}

export function keyFromJson(k: JsonKey | undefined): KeyPath {
  return (k?.path ?? []).map((e): KeyElement => (e.name !== undefined ? { kind: e.kind ?? "", name: e.name } : { kind: e.kind ?? "", id: e.id ?? "0" }));
}

export function keyToJson(key: KeyPath, projectId: string): JsonKey {
  return { partitionId: { projectId }, path: key.map((e) => ("name" in e ? { kind: e.kind, name: e.name } : { kind: e.kind, id: e.id })) };
}

/** "2023-11-14T22:13:20.123456Z" (or with an offset) -> seconds + nanos, exactly. */
export function parseTimestamp(s: string): { seconds: number; nanos: number } {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(s);
  if (!m) throw new Error(`not an RFC 3339 timestamp: ${s}`);
  const ms = Date.parse(`${m[1]}${m[3]}`);
  return { seconds: Math.floor(ms / 1000), nanos: Number((m[2] ?? "").padEnd(9, "0")) };
}

function doubleFromJson(v: number | string): number {
  return typeof v === "number" ? v : Number(v); // "NaN", "Infinity", "-Infinity"
}

export function valueFromJson(v: JsonValue): RecordValue {
  const indexed = v.excludeFromIndexes ? { indexed: false } : {};
  if (v.stringValue !== undefined) return { type: "string", value: v.stringValue, ...indexed };
  if (v.integerValue !== undefined) return { type: "integer", value: String(v.integerValue), ...indexed };
  if (v.timestampValue !== undefined) return { type: "timestamp", ...parseTimestamp(v.timestampValue), ...indexed };
  if (v.booleanValue !== undefined) return { type: "boolean", value: v.booleanValue, ...indexed };
  if (v.doubleValue !== undefined) return { type: "double", value: doubleFromJson(v.doubleValue), ...indexed };
  if (v.blobValue !== undefined) return { type: "blob", value: Buffer.from(v.blobValue, "base64"), ...indexed };
  if (v.keyValue !== undefined) return { type: "key", value: keyFromJson(v.keyValue), ...indexed };
  if (v.geoPointValue !== undefined) return { type: "geo", latitude: v.geoPointValue.latitude ?? 0, longitude: v.geoPointValue.longitude ?? 0, ...indexed };
  if (v.entityValue !== undefined) return { type: "entity", value: propertiesFromJson(v.entityValue.properties), ...indexed };
  if (v.arrayValue !== undefined) return { type: "array", value: (v.arrayValue.values ?? []).map(valueFromJson), ...indexed };
  return { type: "null", ...indexed };
}

function propertiesFromJson(props: Record<string, JsonValue> | undefined): Properties {
  const out: Properties = {};
  for (const [name, value] of Object.entries(props ?? {})) out[name] = valueFromJson(value);
  return out;
}

export function recordFromJson(e: JsonEntity): MetadataRecord {
  return { key: keyFromJson(e.key), properties: propertiesFromJson(e.properties) };
}

function timestampToJson(seconds: number, nanos: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(nanos).padStart(9, "0")}Z`;
}

export function valueToJson(v: RecordValue, projectId: string): JsonValue {
  const flags = v.indexed === false ? { excludeFromIndexes: true } : {};
  switch (v.type) {
    case "null": return { nullValue: null, ...flags };
    case "boolean": return { booleanValue: v.value, ...flags };
    case "integer": return { integerValue: v.value, ...flags };
    case "double": return { doubleValue: Number.isFinite(v.value) ? v.value : String(v.value), ...flags };
    case "timestamp": return { timestampValue: timestampToJson(v.seconds, v.nanos), ...flags };
    case "string": return { stringValue: v.value, ...flags };
    case "blob": return { blobValue: Buffer.from(v.value).toString("base64"), ...flags };
    case "key": return { keyValue: keyToJson(v.value, projectId), ...flags };
    case "geo": return { geoPointValue: { latitude: v.latitude, longitude: v.longitude }, ...flags };
    case "entity": return { entityValue: { properties: propertiesToJson(v.value, projectId) }, ...flags };
    // Datastore wants exclusion on the elements of an array, not the array.
    case "array": return { arrayValue: { values: v.value.map((x) => valueToJson(v.indexed === false ? { ...x, indexed: false } : x, projectId)) } };
  }
}

function propertiesToJson(props: Properties, projectId: string): Record<string, JsonValue> {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, valueToJson(v, projectId)]));
}

export function recordToJson(r: MetadataRecord, projectId: string): JsonEntity {
  return { key: keyToJson(r.key, projectId), properties: propertiesToJson(r.properties, projectId) };
}
