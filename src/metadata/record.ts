// Datastore records as the rest of som sees them: a key path and typed
// property values. The types keep what JSON would lose (exact 64-bit integers,
// nanosecond timestamps, blobs, keys) so sidecars can be rendered faithfully.

/** One step of a key path: a kind and either a name or a numeric id (decimal string). */
export type KeyElement = { kind: string; name: string } | { kind: string; id: string };
export type KeyPath = KeyElement[];

export type RecordValue = (
  | { type: "null" }
  | { type: "boolean"; value: boolean }
  /** Exact decimal, int64 range. */
  | { type: "integer"; value: string }
  | { type: "double"; value: number }
  /** Seconds since the epoch (may be negative) and nanoseconds. */
  | { type: "timestamp"; seconds: number; nanos: number }
  | { type: "string"; value: string }
  | { type: "blob"; value: Buffer }
  | { type: "key"; value: KeyPath }
  | { type: "geo"; latitude: number; longitude: number }
  | { type: "entity"; value: Properties }
  | { type: "array"; value: RecordValue[] }
) & {
  /** false for properties that must not be indexed (long strings such as `url`). */
  indexed?: boolean;
};

export type Properties = Record<string, RecordValue>;

export interface MetadataRecord {
  key: KeyPath;
  properties: Properties;
}

export function keyName(e: KeyElement): string | undefined {
  return "name" in e ? e.name : undefined;
}

/** A stable string for maps and logs: Collection/"c"/Entity/"e". */
export function keyString(key: KeyPath): string {
  return key.map((e) => `${e.kind}/${"name" in e ? JSON.stringify(e.name) : e.id}`).join("/");
}

export function isDescendant(key: KeyPath, ancestor: KeyPath): boolean {
  if (key.length < ancestor.length) return false;
  return ancestor.every((a, i) => keyString([a]) === keyString([key[i]!]));
}

export const str = (value: string, indexed?: boolean): RecordValue => (indexed === false ? { type: "string", value, indexed } : { type: "string", value });

export function timestamp(date: Date): RecordValue {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { type: "timestamp", seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** The instant a timestamp value names, to millisecond precision. */
export function timestampDate(v: RecordValue | undefined): Date | undefined {
  return v?.type === "timestamp" ? new Date(v.seconds * 1000 + Math.floor(v.nanos / 1_000_000)) : undefined;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/**
 * Custom fields given as JSON (`som upload --metadata`). Whole numbers become
 * integers, other numbers doubles, objects embedded entities.
 */
export function fromJson(v: JsonValue): RecordValue {
  if (v === null) return { type: "null" };
  if (typeof v === "boolean") return { type: "boolean", value: v };
  if (typeof v === "number") return Number.isSafeInteger(v) ? { type: "integer", value: String(v) } : { type: "double", value: v };
  if (typeof v === "string") return { type: "string", value: v };
  if (Array.isArray(v)) return { type: "array", value: v.map(fromJson) };
  return { type: "entity", value: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromJson(x)])) };
}
