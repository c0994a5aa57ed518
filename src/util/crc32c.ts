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

export function crc32cToBase64(value: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b.toString("base64");
}

export function crc32cBase64(data: Uint8Array): string {
  return new Crc32c().update(data).base64();
}
