// The bytes of a sidecar .json file: one JSON object with every property of a
// record, keys sorted, 2-space indent, a final newline. Integers are written
// with all their digits even past 2^53 (JSON numbers have no size limit; jq
// 1.7 and Python keep them exact). Timestamps are ISO-8601 UTC with as many
// fraction digits as they carry. Blobs are base64, keys are their path as an
// array, doubles that JSON can't spell (NaN, ±Infinity) are strings.
import type { KeyPath, Properties, RecordValue } from "./record.js";

export function renderSidecar(properties: Properties): Buffer {
  return Buffer.from(`${renderObject(properties, "")}\n`, "utf8");
}

function renderObject(props: Properties, indent: string): string {
  const names = Object.keys(props).sort();
  if (names.length === 0) return "{}";
  const inner = `${indent}  `;
  const lines = names.map((n) => `${inner}${JSON.stringify(n)}: ${renderValue(props[n]!, inner)}`);
  return `{\n${lines.join(",\n")}\n${indent}}`;
}

function renderValue(v: RecordValue, indent: string): string {
  switch (v.type) {
    case "null": return "null";
    case "boolean": return v.value ? "true" : "false";
    case "integer": return v.value;
    case "double": return Number.isFinite(v.value) ? JSON.stringify(v.value) : JSON.stringify(String(v.value));
    case "timestamp": return JSON.stringify(isoTimestamp(v.seconds, v.nanos));
    case "string": return JSON.stringify(v.value);
    case "blob": return JSON.stringify(v.value.toString("base64"));
    case "key": return renderKey(v.value);
    case "geo": return renderObject({ latitude: { type: "double", value: v.latitude }, longitude: { type: "double", value: v.longitude } }, indent);
    case "entity": return renderObject(v.value, indent);
    case "array": {
      if (v.value.length === 0) return "[]";
      const inner = `${indent}  `;
      return `[\n${v.value.map((x) => `${inner}${renderValue(x, inner)}`).join(",\n")}\n${indent}]`;
    }
  }
}

function renderKey(key: KeyPath): string {
  return `[${key.flatMap((e) => [JSON.stringify(e.kind), "name" in e ? JSON.stringify(e.name) : e.id]).join(", ")}]`;
}

/** 2024-01-02T03:04:05.678Z, or .678901Z / .678901234Z when the value is finer. */
export function isoTimestamp(seconds: number, nanos: number): string {
  const whole = new Date(seconds * 1000).toISOString().slice(0, 19);
  let fraction = String(nanos).padStart(9, "0");
  if (fraction.endsWith("000000")) fraction = fraction.slice(0, 3);
  else if (fraction.endsWith("000")) fraction = fraction.slice(0, 6);
  return `${whole}.${fraction}Z`;
}
