// One cached block on disk: a header that says exactly what the bytes are,
// then the bytes. A block is served only if its header is intact (its own
// CRC32C), names the key and length the reader expects, and the data's
// CRC32C matches: a torn write, a flipped bit or a file that belongs to
// another key is fetched again, never served.
//
//   "SOMBLOCK"            8 bytes, magic
//   version               u32 (1)
//   key length            u32
//   data length           u32
//   data CRC32C           u32
//   key                   UTF-8 (generation \0 block \0 object name)
//   header CRC32C         u32, over everything above
//   data
import { crc32c } from "@node-rs/crc32";

const MAGIC = Buffer.from("SOMBLOCK");
const VERSION = 1;
const FIXED = MAGIC.length + 4 * 4;

function crc(data: Uint8Array, initial = 0): number {
  return crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength), initial) >>> 0;
}

/** The header for `data` under `key`; the file is header then data. */
export function encodeHeader(key: string, data: readonly Uint8Array[]): Buffer {
  const keyBytes = Buffer.from(key, "utf8");
  let dataCrc = 0;
  let length = 0;
  for (const part of data) {
    dataCrc = crc(part, dataCrc);
    length += part.length;
  }
  const header = Buffer.allocUnsafe(FIXED + keyBytes.length + 4);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(keyBytes.length, 12);
  header.writeUInt32LE(length, 16);
  header.writeUInt32LE(dataCrc, 20);
  keyBytes.copy(header, FIXED);
  header.writeUInt32LE(crc(header.subarray(0, FIXED + keyBytes.length)), FIXED + keyBytes.length);
  return header;
}

export type BlockCheck = { ok: true; data: Buffer } | { ok: false; why: string };

/** The data of a block file, if it is exactly the block `key` of `length` bytes and intact. */
export function decodeBlock(file: Buffer, key: string, length: number): BlockCheck {
  if (file.length < FIXED + 4 || !file.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, why: "not a block file" };
  if (file.readUInt32LE(8) !== VERSION) return { ok: false, why: `version ${file.readUInt32LE(8)}` };
  const keyLength = file.readUInt32LE(12);
  const headerLength = FIXED + keyLength + 4;
  if (file.length < headerLength) return { ok: false, why: "header cut short" };
  if (file.readUInt32LE(FIXED + keyLength) !== crc(file.subarray(0, FIXED + keyLength))) return { ok: false, why: "header checksum" };
  if (file.toString("utf8", FIXED, FIXED + keyLength) !== key) return { ok: false, why: "another block's file" };
  const dataLength = file.readUInt32LE(16);
  if (dataLength !== length) return { ok: false, why: `length ${dataLength}, expected ${length}` };
  if (file.length !== headerLength + dataLength) return { ok: false, why: `file is ${file.length} bytes, expected ${headerLength + dataLength}` };
  const data = file.subarray(headerLength);
  if (crc(data) !== file.readUInt32LE(20)) return { ok: false, why: "data checksum" };
  return { ok: true, data };
}
