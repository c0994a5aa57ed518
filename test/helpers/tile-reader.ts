// Reads random tiles of a slide through a mount and compares each with the
// source file. Runs as its own process (node strips the types): reads from a
// FUSE mount block threads of the libuv pool, and in the test process those
// threads also serve the emulator the mount is waiting on.
//   node tile-reader.ts MOUNTED SOURCE COUNT THREADS PIXEL_OFFSET FRAME_BYTES FRAMES
import { open } from "node:fs/promises";

const [mountedPath, sourcePath, count, threads, pixelOffset, frameBytes, frames] = process.argv.slice(2);
const n = Number(count);
const [mounted, source] = await Promise.all([open(mountedPath!), open(sourcePath!)]);
let left = n;
let wrong = 0;
await Promise.all(Array.from({ length: Number(threads) }, async () => {
  const a = Buffer.alloc(Number(frameBytes));
  const b = Buffer.alloc(Number(frameBytes));
  while (left-- > 0) {
    const at = Number(pixelOffset) + Math.floor(Math.random() * Number(frames)) * Number(frameBytes);
    const [x, y] = await Promise.all([mounted.read(a, 0, a.length, at), source.read(b, 0, b.length, at)]);
    if (x.bytesRead !== y.bytesRead || !a.equals(b)) wrong++;
  }
}));
await Promise.all([mounted.close(), source.close()]);
process.stdout.write(`${JSON.stringify({ reads: n, wrong })}\n`);
