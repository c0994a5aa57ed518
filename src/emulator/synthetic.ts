// Namespaces computed on demand, for tests and benchmarks at Imaging Data
// Commons scale: <prefix><folder>/<file>.dcm with a million folders (series
// UUIDs, or DICOM UIDs) and any number of files in each, without a file on
// disk or an object in memory per name.
//
// Names are generated already in list order, so index arithmetic replaces
// sorting: folder i of n gets a key whose leading digits grow with i
// (i * 2^32 / n plus a jitter smaller than the step) and whose other digits
// look random, like real UUIDv4s listed by GCS. Bytes are derived from the
// name, so a test can compute what any object holds.
import { createHash } from "node:crypto";
import { compareUtf8 } from "../listing/key-order.js";
import { crc32cBase64 } from "../util/crc32c.js";
import { partition, type ObjectTable, type StoredObject } from "./object-table.js";

export interface SyntheticSpec {
  /** Every name starts with this ("" or ending in "/"). */
  prefix: string;
  folders: number;
  filesPerFolder: number;
  naming: "uuid" | "uid";
  /** Bytes in each object. */
  objectSize: number;
  seed: number;
}

/** murmur3's finalizer: a fast, well-mixed 32-bit hash of (seed, a, b). */
function mix(seed: number, a: number, b: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(a + 1, 0xc2b2ae35) ^ Math.imul(b + 7, 0x27d4eb2f)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, "0");

/** The i-th of n UUIDs in ascending order; `salt` makes different sequences. */
export function sortedUuid(i: number, n: number, seed: number, salt: number): string {
  const step = Math.max(1, Math.floor(2 ** 32 / n));
  const head = Math.floor((i * 2 ** 32) / n) + (mix(seed, salt, i) % step);
  const r1 = mix(seed + 1, salt, i);
  const r2 = mix(seed + 2, salt, i);
  const r3 = mix(seed + 3, salt, i);
  return `${hex(head, 8)}-${hex(r1 >>> 16, 4)}-4${hex(r1 & 0xfff, 3)}-${hex(8 | (r2 >>> 30), 1)}${hex((r2 >>> 16) & 0xfff, 3)}-${hex(r2 & 0xffff, 4)}${hex(r3, 8)}`;
}

const UID_ROOT = "1.2.826.0.1.3680043.10.511";
const UID_LOW = 10n ** 19n;
const UID_SPAN = 8n * 10n ** 18n;

/** The i-th of n DICOM UIDs in ascending order: a root and a 20-digit last component (no leading zero). */
export function sortedUid(i: number, n: number, seed: number, salt: number): string {
  const step = UID_SPAN / BigInt(n);
  const jitter = step > 1n ? BigInt(mix(seed, salt, i)) % step : 0n;
  return `${UID_ROOT}.${salt}.${UID_LOW + (BigInt(i) * UID_SPAN) / BigInt(n) + jitter}`;
}

/** The bytes of a synthetic object: the SHA-256 of its name, repeated. */
export function syntheticBytes(name: string, size: number): Buffer {
  const unit = createHash("sha256").update(name).digest();
  const out = Buffer.allocUnsafe(size);
  for (let at = 0; at < size; at += unit.length) unit.copy(out, at, 0, Math.min(unit.length, size - at));
  return out;
}

/** One spec's names, by index. */
export class SyntheticPart {
  readonly size: number;
  private readonly updated = new Date(Date.UTC(2024, 0, 1));
  private readonly genBase = BigInt(Date.UTC(2024, 0, 1)) * 1000n;

  constructor(readonly spec: SyntheticSpec) {
    this.size = spec.folders * spec.filesPerFolder;
  }

  private id(i: number, n: number, salt: number): string {
    return this.spec.naming === "uuid" ? sortedUuid(i, n, this.spec.seed, salt) : sortedUid(i, n, this.spec.seed, salt);
  }

  folder(i: number): string {
    return `${this.spec.prefix}${this.id(i, this.spec.folders, 0)}/`;
  }

  nameAt(k: number): string {
    const per = this.spec.filesPerFolder;
    const i = Math.floor(k / per);
    return `${this.folder(i)}${this.id(k % per, per, i + 1)}.dcm`;
  }

  at(k: number): StoredObject {
    const name = this.nameAt(k);
    const data = syntheticBytes(name, this.spec.objectSize);
    return {
      name, size: this.spec.objectSize, generation: (this.genBase + BigInt(k)).toString(), metageneration: "1",
      md5Hash: createHash("md5").update(data).digest("base64"), crc32c: crc32cBase64(data), contentType: "application/dicom",
      timeCreated: this.updated, updated: this.updated, bytes: { kind: "generated" },
    };
  }

  lowerBound(key: string): number {
    if (compareUtf8(key, this.spec.prefix) <= 0) return 0;
    if (!key.startsWith(this.spec.prefix)) return this.size;
    return partition(0, this.size, (k) => compareUtf8(this.nameAt(k), key) < 0);
  }

  endOfPrefix(prefix: string, from: number): number {
    // The common case, skipping one folder in a delimiter listing, is arithmetic.
    if (from < this.size) {
      const i = Math.floor(from / this.spec.filesPerFolder);
      if (prefix === this.folder(i)) return (i + 1) * this.spec.filesPerFolder;
    }
    return partition(from, this.size, (k) => this.nameAt(k).startsWith(prefix));
  }
}

/** One or more synthetic parts with disjoint prefixes, as one read-only bucket. */
export class SyntheticTable implements ObjectTable {
  readonly created = new Date(Date.UTC(2024, 0, 1));
  readonly writable = false;
  readonly size: number;
  private readonly parts: SyntheticPart[];
  private readonly offsets: number[];

  constructor(readonly name: string, specs: SyntheticSpec[]) {
    this.parts = specs.map((s) => new SyntheticPart(s)).sort((a, b) => compareUtf8(a.spec.prefix, b.spec.prefix));
    for (let i = 1; i < this.parts.length; i++) {
      if (this.parts[i]!.spec.prefix.startsWith(this.parts[i - 1]!.spec.prefix)) {
        throw new Error(`synthetic prefixes must not nest: "${this.parts[i - 1]!.spec.prefix}" and "${this.parts[i]!.spec.prefix}"`);
      }
    }
    this.offsets = [];
    let n = 0;
    for (const p of this.parts) {
      this.offsets.push(n);
      n += p.size;
    }
    this.size = n;
  }

  private part(k: number): number {
    return partition(0, this.parts.length, (i) => this.offsets[i]! + this.parts[i]!.size <= k);
  }

  nameAt(k: number): string {
    const p = this.part(k);
    return this.parts[p]!.nameAt(k - this.offsets[p]!);
  }

  at(k: number): StoredObject {
    const p = this.part(k);
    return this.parts[p]!.at(k - this.offsets[p]!);
  }

  lowerBound(key: string): number {
    for (let p = 0; p < this.parts.length; p++) {
      const part = this.parts[p]!;
      if (key.startsWith(part.spec.prefix)) return this.offsets[p]! + part.lowerBound(key);
      if (compareUtf8(key, part.spec.prefix) < 0) return this.offsets[p]!;
    }
    return this.size;
  }

  endOfPrefix(prefix: string, from = this.lowerBound(prefix)): number {
    if (from >= this.size) return this.size;
    const p = this.part(from);
    const part = this.parts[p]!;
    if (prefix.startsWith(part.spec.prefix)) return this.offsets[p]! + part.endOfPrefix(prefix, from - this.offsets[p]!);
    return partition(from, this.size, (k) => this.nameAt(k).startsWith(prefix));
  }

  get(name: string): StoredObject | undefined {
    const k = this.lowerBound(name);
    return k < this.size && this.nameAt(k) === name ? this.at(k) : undefined;
  }

  put(_obj: StoredObject): StoredObject | undefined {
    throw new Error("a synthetic bucket is read-only");
  }

  delete(_name: string): StoredObject | undefined {
    throw new Error("a synthetic bucket is read-only");
  }
}

/**
 * Parses "FOLDERSxFILES[,prefix=P][,naming=uid][,size=N][,seed=S]",
 * e.g. "1000000x1" or "100000x1,prefix=Collection/WIDE/Entity/,naming=uid".
 */
export function parseSyntheticSpec(text: string): SyntheticSpec {
  const [counts, ...opts] = text.split(",");
  const m = /^(\d+)x(\d+)$/.exec(counts ?? "");
  if (!m) throw new Error(`synthetic namespace "${text}": start with FOLDERSxFILES, e.g. 1000000x1`);
  const spec: SyntheticSpec = { prefix: "", folders: Number(m[1]), filesPerFolder: Number(m[2]), naming: "uuid", objectSize: 64, seed: 1 };
  if (spec.folders < 1 || spec.filesPerFolder < 1 || spec.folders > 2 ** 32) throw new Error(`synthetic namespace "${text}": counts must be at least 1`);
  for (const o of opts) {
    const eq = o.indexOf("=");
    const [k, v] = eq < 0 ? [o, ""] : [o.slice(0, eq), o.slice(eq + 1)];
    if (k === "prefix") spec.prefix = v === "" || v.endsWith("/") ? v : `${v}/`;
    else if (k === "naming" && (v === "uuid" || v === "uid")) spec.naming = v;
    else if (k === "size" && /^\d+$/.test(v)) spec.objectSize = Number(v);
    else if (k === "seed" && /^\d+$/.test(v)) spec.seed = Number(v);
    else throw new Error(`synthetic namespace "${text}": unknown option "${o}" (prefix=, naming=uuid|uid, size=, seed=)`);
  }
  return spec;
}
