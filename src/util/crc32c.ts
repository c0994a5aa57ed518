// CRC32C as GCS reports it: the big-endian 4 bytes of the checksum, base64.
// The @node-rs/crc32 addon uses the SSE4.2 instruction (GB/s); the pure-JS
// CRC32C in @google-cloud/storage runs at ~35 MB/s here, too slow for the
// emulator's seeding and for verifying whole-object reads on the hot path.
import { crc32c } from "@node-rs/crc32";

/** Incremental CRC32C over chunks. */
export class Crc32c {
  private value = 0;

  update(chunk: Uint8Array): this {
    this.value = crc32c(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), this.value);
    return this;
  }

  base64(): string {
    return crc32cToBase64(this.value);
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUE = new Map([...B64].map((c, i) => [c, i]));

/**
 * The base64 of the CRC's 4 big-endian bytes, by table: a listing turns
 * every entry's CRC back into this string (a Buffer per entry took ~10×
 * as long, and a directory of 120,000 entries makes that many).
 */
export function crc32cToBase64(value: number): string {
  const v = value >>> 0;
  const b0 = v >>> 24;
  const b1 = (v >>> 16) & 255;
  const b2 = (v >>> 8) & 255;
  const b3 = v & 255;
  return B64[b0 >> 2]! + B64[((b0 & 3) << 4) | (b1 >> 4)]! + B64[((b1 & 15) << 2) | (b2 >> 6)]! + B64[b2 & 63]! + B64[b3 >> 2]! + B64[(b3 & 3) << 4]! + "==";
}

/** The CRC a base64 string of 4 bytes names (as GCS gives it), or undefined if it names no 4 bytes. */
export function crc32cFromBase64(b64: string): number | undefined {
  if (b64.length !== 8 || b64[6] !== "=" || b64[7] !== "=") return undefined;
  let v = 0;
  for (let i = 0; i < 6; i++) {
    const d = B64_VALUE.get(b64[i]!);
    if (d === undefined) return undefined;
    v = v * 64 + d;
  }
  // 36 bits read: the 32 of the CRC, then 4 of padding (ignored, as Node's base64 decoder does).
  return Math.floor(v / 16);
}

export function crc32cBase64(data: Uint8Array): string {
  return new Crc32c().update(data).base64();
}
