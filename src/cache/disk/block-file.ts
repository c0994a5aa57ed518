// One cached extent on disk: the bytes, and a header that says exactly what
// they are — whose they are, how long, and a CRC32C for each page. The file
// holds the bytes alone; the header is its extended attribute user.som.block
// (header-attr.ts), so a whole small object's file can back a FUSE handle.
// A page is served only if the header is intact (its own CRC32C), names the
// key and length the reader expects, and the page's bytes match their
// CRC32C: a torn write, a flipped bit or a file of another key is fetched
// again, never served. One file per extent (8 MiB of a big object, or a
// whole small one) keeps the file count low; one CRC per page lets a random
// page be checked without reading the rest.
//
// The header:
//   "SOMBLOCK"        8 bytes, magic
//   version           u32 (3; 2 was the header at the start of the file)
//   key length        u32
//   data length       u32
//   page size         u32
//   page count        u32
//   page CRC32Cs      u32 × page count
//   key               UTF-8 (generation \0 extent \0 object name)
//   header CRC32C     u32, over everything above
import { crc32c } from "@node-rs/crc32";

const MAGIC = Buffer.from("SOMBLOCK");
const VERSION = 3;
const FIXED = MAGIC.length + 5 * 4;

export function crcOf(data: Uint8Array, initial = 0): number {
  return crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength), initial) >>> 0;
}

/** The CRC32C of each `pageSize` page of data given in order, in chunks of any size. */
export class PageCrcs {
  private readonly crcs: number[] = [];
  private crc = 0;
  private inPage = 0;

  constructor(private readonly pageSize: number) {}

  add(chunk: Uint8Array): void {
    for (let at = 0; at < chunk.length;) {
      const n = Math.min(this.pageSize - this.inPage, chunk.length - at);
      this.crc = crcOf(chunk.subarray(at, at + n), this.crc);
      this.inPage += n;
      at += n;
      if (this.inPage === this.pageSize) {
        this.crcs.push(this.crc);
        this.crc = 0;
        this.inPage = 0;
      }
    }
  }

  /** Every page's CRC32C, the last (short) page included. */
  finish(): number[] {
    return this.inPage > 0 ? [...this.crcs, this.crc] : [...this.crcs];
  }
}

/** The header for `data` under `key`. */
export function encodeHeader(key: string, data: readonly Uint8Array[], pageSize: number): Buffer {
  const crcs = new PageCrcs(pageSize);
  for (const part of data) crcs.add(part);
  return headerOf(key, data.reduce((a, p) => a + p.length, 0), pageSize, crcs.finish());
}

/** The header of a block of `length` bytes whose pages have these CRC32Cs (headerBytesFor(key, length, pageSize) long). */
export function headerOf(key: string, length: number, pageSize: number, crcs: readonly number[]): Buffer {
  const keyBytes = Buffer.from(key, "utf8");
  const header = Buffer.allocUnsafe(FIXED + crcs.length * 4 + keyBytes.length + 4);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(keyBytes.length, 12);
  header.writeUInt32LE(length, 16);
  header.writeUInt32LE(pageSize, 20);
  header.writeUInt32LE(crcs.length, 24);
  crcs.forEach((c, i) => header.writeUInt32LE(c, FIXED + i * 4));
  const keyAt = FIXED + crcs.length * 4;
  keyBytes.copy(header, keyAt);
  header.writeUInt32LE(crcOf(header.subarray(0, keyAt + keyBytes.length)), keyAt + keyBytes.length);
  return header;
}

/** What a valid header says. */
export interface BlockHeader {
  dataLength: number;
  pageSize: number;
  crcs: number[];
}

export type HeaderCheck = { ok: true; header: BlockHeader } | { ok: false; why: string };

/** The header `head` (a block file's attribute; undefined: it has none), if it is exactly the block `key` of `length` bytes and intact; the file is `fileSize` bytes. */
export function decodeHeader(head: Buffer | undefined, key: string, length: number, fileSize: number): HeaderCheck {
  if (!head) return { ok: false, why: "no header attribute" };
  if (head.length < FIXED || !head.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, why: "not a block file" };
  if (head.readUInt32LE(8) !== VERSION) return { ok: false, why: `version ${head.readUInt32LE(8)}` };
  const keyLength = head.readUInt32LE(12);
  const dataLength = head.readUInt32LE(16);
  const pageSize = head.readUInt32LE(20);
  const pages = head.readUInt32LE(24);
  const keyAt = FIXED + pages * 4;
  const headerLength = keyAt + keyLength + 4;
  if (head.length < headerLength) return { ok: false, why: "header cut short" };
  if (head.readUInt32LE(keyAt + keyLength) !== crcOf(head.subarray(0, keyAt + keyLength))) return { ok: false, why: "header checksum" };
  if (head.toString("utf8", keyAt, keyAt + keyLength) !== key) return { ok: false, why: "another block's file" };
  if (dataLength !== length) return { ok: false, why: `length ${dataLength}, expected ${length}` };
  if (pageSize === 0 || pages !== Math.ceil(dataLength / pageSize)) return { ok: false, why: "page table" };
  if (fileSize !== dataLength) return { ok: false, why: `file is ${fileSize} bytes, expected ${dataLength}` };
  const crcs = Array.from({ length: pages }, (_, i) => head.readUInt32LE(FIXED + i * 4));
  return { ok: true, header: { dataLength, pageSize, crcs } };
}

/** Why a block known only by its file was passed over: its header names a block of another kind. */
export const OTHER_KIND = "not a block of that kind";

/**
 * The key an intact header names (undefined if it is no intact header): for
 * a block known only by its file, whose key is not known beforehand (the
 * checks ahead of a remount's first reads, disk-cache.ts). decodeHeader
 * still has to be given it.
 */
export function headerKey(head: Buffer | undefined): string | undefined {
  if (!head || head.length < FIXED || !head.subarray(0, MAGIC.length).equals(MAGIC) || head.readUInt32LE(8) !== VERSION) return undefined;
  const keyLength = head.readUInt32LE(12);
  const keyAt = FIXED + head.readUInt32LE(24) * 4;
  if (head.length < keyAt + keyLength + 4) return undefined;
  if (head.readUInt32LE(keyAt + keyLength) !== crcOf(head.subarray(0, keyAt + keyLength))) return undefined;
  return head.toString("utf8", keyAt, keyAt + keyLength);
}

/** Whether `data`, read from `offset` (page-aligned) of the extent, matches its pages' CRC32Cs. */
export function pagesIntact(header: BlockHeader, offset: number, data: Buffer): boolean {
  for (let at = 0; at < data.length; at += header.pageSize) {
    const page = (offset + at) / header.pageSize;
    if (!Number.isInteger(page) || crcOf(data.subarray(at, at + header.pageSize)) !== header.crcs[page]) return false;
  }
  return true;
}
