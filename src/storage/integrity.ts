import { crc32cBase64 } from "../util/crc32c.js";
import { IntegrityError } from "./errors.js";

/** Throws IntegrityError (a TransientError, so the read is retried) when bytes don't match. */
export function verifyCrc32c(data: Buffer, expected: string | undefined, what: string): void {
  if (!expected) return;
  const actual = crc32cBase64(data);
  if (actual !== expected) throw new IntegrityError(`${what}: CRC32C ${actual} does not match the object's ${expected}`);
}
