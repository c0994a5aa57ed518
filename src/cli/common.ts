// Option handling shared by the som subcommands (endpoint, project, numbers, JSON).
import type { JsonValue } from "../metadata/record.js";
import { bucketNameProblem } from "../storage/bucket-name.js";
import { UsageError } from "./errors.js";

export function nonNegativeInt(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a whole number, not "${v}"`);
  return Number(v);
}

/** A whole number within [min, max], or a UsageError naming the flag. */
export function intInRange(flag: string, v: string, min: number, max: number, what = `from ${min} to ${max}`): number {
  const n = nonNegativeInt(flag, v);
  if (n < min || n > max) throw new UsageError(`${flag} must be ${what}, not ${v}`);
  return n;
}

/** A user or group id: 0 .. 2^32 - 2 (2^32 - 1 is no id at all). */
export function idArg(flag: string, v: string): number {
  return intInRange(flag, v, 0, 4_294_967_294);
}

/** A folder of the bucket: no ".", ".." or empty parts (slashes at either end are dropped). */
export function prefixArg(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const trimmed = v.replace(/^\/+/, "").replace(/\/+$/, "");
  // eslint-disable-next-line no-control-regex
  const bad = trimmed !== "" && (trimmed.split("/").some((p) => p === "" || p === "." || p === "..") || /[\x00-\x1f\x7f]/.test(trimmed));
  if (bad || Buffer.byteLength(trimmed) > 1024) {
    throw new UsageError(`--prefix must name a folder inside the bucket (no ".", ".." or empty parts), not ${JSON.stringify(v)}`);
  }
  return trimmed || undefined;
}

export function positiveInt(flag: string, v: string): number {
  const n = nonNegativeInt(flag, v);
  if (n < 1) throw new UsageError(`${flag} must be at least 1`);
  return n;
}

export function checkBucket(bucket: string): void {
  const problem = bucketNameProblem(bucket);
  if (problem) throw new UsageError(`invalid bucket name "${bucket}": ${problem}`);
}

export interface StorageTarget {
  endpoint?: string;
  /** Send no credentials. */
  anonymous: boolean;
}

/**
 * Where storage requests go and whether they carry credentials: --endpoint
 * (with credentials: a private endpoint, a proxy), else $STORAGE_EMULATOR_HOST
 * (an emulator: none, as the Google tools do), else Google (with them).
 * --anonymous turns them off anywhere.
 */
export function storageTarget(flag: string | undefined, anonymous = false): StorageTarget {
  const emulator = process.env.STORAGE_EMULATOR_HOST || undefined;
  const endpoint = flag ?? emulator;
  if (endpoint && !/^https?:\/\/[^/]+/.test(endpoint)) throw new UsageError(`--endpoint must be an http(s) URL, not "${endpoint}"`);
  return { ...(endpoint ? { endpoint } : {}), anonymous: anonymous || (flag === undefined && emulator !== undefined) };
}

/** --project, else $GOOGLE_CLOUD_PROJECT, else $DATASTORE_PROJECT_ID. */
export function datastoreProject(flag: string | undefined): string | undefined {
  return flag ?? process.env.GOOGLE_CLOUD_PROJECT ?? process.env.DATASTORE_PROJECT_ID ?? undefined;
}

export function jsonObject(flag: string, text: string | undefined): Record<string, JsonValue> | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${flag} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new UsageError(`${flag} must be a JSON object, e.g. '{"Modality": "CT"}'`);
  return v as Record<string, JsonValue>;
}

/** --billing-project: a project id as Google writes them (6-30 of a-z, 0-9, -), or a project number. */
export function billingArg(v: string): string {
  if (!/^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|\d{1,20})$/.test(v)) throw new UsageError(`--billing-project must be a project id such as my-lab-123, not "${v}"`);
  return v;
}
