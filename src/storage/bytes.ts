// Object bytes as they came off the socket: a list of chunks, not copied
// into one Buffer. A mount moves every byte from a response into the kernel's
// buffer for a FUSE read; joining the chunks first would copy each byte once
// more, into freshly faulted-in memory (measured: a fifth of the daemon's
// CPU on a 300 MB read). Readers copy ranges straight out of the chunks.

export class Chunks {
  /** Offset of each chunk within the whole. */
  private readonly starts: number[];
  readonly length: number;

  constructor(readonly parts: Buffer[]) {
    this.starts = new Array<number>(parts.length);
    let at = 0;
    parts.forEach((p, i) => {
      this.starts[i] = at;
      at += p.length;
    });
    this.length = at;
  }

  /** Index of the chunk holding byte `offset` (binary search). */
  private chunkAt(offset: number): number {
    let lo = 0;
    let hi = this.parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Copies bytes [start, end) into target at targetStart; returns the count copied. */
  copy(target: Uint8Array, targetStart: number, start: number, end: number): number {
    end = Math.min(end, this.length);
    let copied = 0;
    for (let i = this.chunkAt(start); i < this.parts.length && start + copied < end; i++) {
      const part = this.parts[i]!;
      const from = start + copied - this.starts[i]!;
      const to = Math.min(part.length, end - this.starts[i]!);
      copied += part.copy(target, targetStart + copied, from, to);
    }
    return copied;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }

  /** Bytes [start, end) as views of the same chunks (nothing copied). */
  slice(start: number, end: number): Chunks {
    end = Math.min(end, this.length);
    const out: Buffer[] = [];
    for (let i = start < end ? this.chunkAt(start) : this.parts.length; i < this.parts.length; i++) {
      const s = this.starts[i]!;
      if (s >= end) break;
      const part = this.parts[i]!;
      out.push(part.subarray(Math.max(0, start - s), Math.min(part.length, end - s)));
    }
    return new Chunks(out);
  }
}

/**
 * Appends `c` to `parts`, as one view with the last part when it continues
 * it in the same memory (socket reads of one page, see util/http1/body-pages.ts).
 */
export function appendView(parts: Buffer[], c: Buffer): void {
  const last = parts[parts.length - 1];
  if (last && last.buffer === c.buffer && last.byteOffset + last.length === c.byteOffset) {
    parts[parts.length - 1] = Buffer.from(c.buffer, last.byteOffset, last.length + c.length);
  } else parts.push(c);
}

/** Bytes of an object or a block: one Buffer, or chunks as received. */
export type Bytes = Buffer | Chunks;

export function copyBytes(src: Bytes, target: Uint8Array, targetStart: number, start: number, end: number): number {
  if (src instanceof Chunks) return src.copy(target, targetStart, start, end);
  return Buffer.from(src.buffer, src.byteOffset, src.length).copy(target, targetStart, start, Math.min(end, src.length));
}

/** The bytes as Buffers, in order (for writing them out without joining). */
export function partsOf(b: Bytes): Buffer[] {
  return b instanceof Chunks ? b.parts : [b];
}

/** Bytes [start, end) without copying. */
export function sliceView(b: Bytes, start: number, end: number): Bytes {
  return b instanceof Chunks ? b.slice(start, end) : b.subarray(start, end);
}

/** A Buffer holding [start, end) of the bytes: a view when possible, else a copy. */
export function sliceBytes(src: Bytes, start: number, end: number): Buffer {
  end = Math.min(end, src.length);
  if (!(src instanceof Chunks)) return src.subarray(start, end);
  const out = Buffer.allocUnsafe(Math.max(0, end - start));
  src.copy(out, 0, start, end);
  return out;
}
