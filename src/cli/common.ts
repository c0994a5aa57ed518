// Option handling shared by the som subcommands (endpoint, project, numbers, JSON).
import type { JsonValue } from "../metadata/record.js";
import { bucketNameProblem } from "../storage/bucket-name.js";
import { UsageError } from "./errors.js";

export function nonNegativeInt(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a whole number, not "${v}"`);
  return Number(v);
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

/** --endpoint, else $STORAGE_EMULATOR_HOST (as the Google tools read it), else Google. */
export function storageEndpoint(flag: string | undefined): string | undefined {
  const endpoint = flag ?? process.env.STORAGE_EMULATOR_HOST;
  if (endpoint && !/^https?:\/\/[^/]+/.test(endpoint)) throw new UsageError(`--endpoint must be an http(s) URL, not "${endpoint}"`);
  return endpoint || undefined;
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
