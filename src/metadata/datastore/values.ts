// Datastore's protobuf values <-> RecordValue. The gRPC client hands int64s
// over as decimal strings and timestamps as seconds+nanos, so nothing is lost.
import type { google } from "@google-cloud/datastore/build/src/protos.js";
import type { KeyElement, KeyPath, MetadataRecord, Properties, RecordValue } from "../record.js";

// valueType is the oneof's name, which the client's decoder adds (oneofs: true).
type PValue = google.datastore.v1.IValue & { valueType?: string };
type PKey = google.datastore.v1.IKey;
type PEntity = google.datastore.v1.IEntity;
type Long = { toString(): string };

function int64(v: string | number | Long | null | undefined): string {
  return v === null || v === undefined ? "0" : typeof v === "string" ? v : v.toString();
}

export function keyFromProto(k: PKey | null | undefined): KeyPath {
  return (k?.path ?? []).map((e): KeyElement => {
    const kind = e.kind ?? "";
    if (e.name !== null && e.name !== undefined && e.name !== "") return { kind, name: e.name };
    return { kind, id: int64(e.id) };
  });
}

export function keyToProto(key: KeyPath, projectId: string): PKey {
  return {
    partitionId: { projectId },
    path: key.map((e) => ("name" in e ? { kind: e.kind, name: e.name } : { kind: e.kind, id: e.id })),
  };
}

export function valueFromProto(v: PValue): RecordValue {
  const indexed = v.excludeFromIndexes ? { indexed: false } : {};
  switch (v.valueType) {
    case "nullValue": return { type: "null", ...indexed };
    case "booleanValue": return { type: "boolean", value: !!v.booleanValue, ...indexed };
    case "integerValue": return { type: "integer", value: int64(v.integerValue), ...indexed };
    case "doubleValue": return { type: "double", value: Number(v.doubleValue ?? 0), ...indexed };
    case "timestampValue": return { type: "timestamp", seconds: Number(int64(v.timestampValue?.seconds)), nanos: v.timestampValue?.nanos ?? 0, ...indexed };
    case "stringValue": return { type: "string", value: v.stringValue ?? "", ...indexed };
    case "blobValue": return { type: "blob", value: Buffer.from(v.blobValue ?? new Uint8Array()), ...indexed };
    case "keyValue": return { type: "key", value: keyFromProto(v.keyValue), ...indexed };
    case "geoPointValue": return { type: "geo", latitude: v.geoPointValue?.latitude ?? 0, longitude: v.geoPointValue?.longitude ?? 0, ...indexed };
    case "entityValue": return { type: "entity", value: propertiesFromProto(v.entityValue?.properties), ...indexed };
    case "arrayValue": return { type: "array", value: (v.arrayValue?.values ?? []).map(valueFromProto), ...indexed };
    default: return { type: "null", ...indexed };
  }
}

function propertiesFromProto(props: PEntity["properties"]): Properties {
  const out: Properties = {};
  for (const [name, value] of Object.entries(props ?? {})) out[name] = valueFromProto(value);
  return out;
}

export function recordFromProto(e: PEntity): MetadataRecord {
  return { key: keyFromProto(e.key), properties: propertiesFromProto(e.properties) };
}

export function valueToProto(v: RecordValue, projectId: string): PValue {
  const flags = v.indexed === false ? { excludeFromIndexes: true } : {};
  switch (v.type) {
    case "null": return { nullValue: "NULL_VALUE", ...flags };
    case "boolean": return { booleanValue: v.value, ...flags };
    case "integer": return { integerValue: v.value, ...flags };
    case "double": return { doubleValue: v.value, ...flags };
    case "timestamp": return { timestampValue: { seconds: v.seconds, nanos: v.nanos }, ...flags };
    case "string": return { stringValue: v.value, ...flags };
    case "blob": return { blobValue: v.value, ...flags };
    case "key": return { keyValue: keyToProto(v.value, projectId), ...flags };
    case "geo": return { geoPointValue: { latitude: v.latitude, longitude: v.longitude }, ...flags };
    case "entity": return { entityValue: { properties: propertiesToProto(v.value, projectId) }, ...flags };
    // Datastore wants exclusion on the elements of an array, not the array.
    case "array": return { arrayValue: { values: v.value.map((x) => valueToProto(v.indexed === false ? { ...x, indexed: false } : x, projectId)) } };
  }
}

function propertiesToProto(props: Properties, projectId: string): Record<string, PValue> {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, valueToProto(v, projectId)]));
}

export function recordToProto(r: MetadataRecord, projectId: string): PEntity {
  return { key: keyToProto(r.key, projectId), properties: propertiesToProto(r.properties, projectId) };
}
