// A whole-slide microscopy image (IDC's SM modality) as one big DICOM file:
// a multi-frame VL Whole Slide Microscopy instance whose frames are 256×256
// RGB tiles stored one after another (TILED_FULL), so a viewer reads it by
// seeking to tiles — the random access the disk tier and ranged reads are
// built for. The pixels are random (incompressible, and no two tiles alike:
// a misplaced one cannot hash the same). Written in chunks, never held whole.
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { encode, fileMeta, str, us, type Element } from "./synthetic.js";

const WSM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.77.1.6";
const EXPLICIT_VR_LE = "1.2.840.10008.1.2.1";
const TILE = 256;

export interface SlideFile {
  size: number;
  frames: number;
  frameBytes: number;
  /** Where frame 0 starts in the file; frame i is at pixelOffset + i * frameBytes. */
  pixelOffset: number;
}

/** Writes a slide of about `approxBytes` (whole tiles) to `path`. */
export async function writeSlideDicom(path: string, approxBytes: number, instance = 1): Promise<SlideFile> {
  const frameBytes = TILE * TILE * 3;
  const frames = Math.max(1, Math.floor(approxBytes / frameBytes));
  const across = Math.ceil(Math.sqrt(frames));
  const instanceUid = `1.2.826.0.1.3680043.10.1234.77.${instance}`;
  const dataset: Element[] = [
    { group: 0x0008, element: 0x0016, vr: "UI", value: str(WSM_IMAGE_STORAGE) },
    { group: 0x0008, element: 0x0018, vr: "UI", value: str(instanceUid) },
    { group: 0x0008, element: 0x0060, vr: "CS", value: str("SM") },
    { group: 0x0010, element: 0x0010, vr: "PN", value: str("Anonymous^Slide") },
    { group: 0x0020, element: 0x0013, vr: "IS", value: str(String(instance)) },
    { group: 0x0020, element: 0x9311, vr: "CS", value: str("TILED_FULL") },
    { group: 0x0028, element: 0x0002, vr: "US", value: us(3) },
    { group: 0x0028, element: 0x0004, vr: "CS", value: str("RGB") },
    { group: 0x0028, element: 0x0006, vr: "US", value: us(0) },
    { group: 0x0028, element: 0x0008, vr: "IS", value: str(String(frames)) },
    { group: 0x0028, element: 0x0010, vr: "US", value: us(TILE) },
    { group: 0x0028, element: 0x0011, vr: "US", value: us(TILE) },
    { group: 0x0028, element: 0x0100, vr: "US", value: us(8) },
    { group: 0x0028, element: 0x0101, vr: "US", value: us(8) },
    { group: 0x0028, element: 0x0102, vr: "US", value: us(7) },
    { group: 0x0028, element: 0x0103, vr: "US", value: us(0) },
    { group: 0x0048, element: 0x0006, vr: "UL", value: u32(across * TILE) },
    { group: 0x0048, element: 0x0007, vr: "UL", value: u32(Math.ceil(frames / across) * TILE) },
  ];
  // Pixel Data (OB) with an explicit length; the frames follow.
  const pixelHead = Buffer.alloc(12);
  pixelHead.writeUInt16LE(0x7fe0, 0);
  pixelHead.writeUInt16LE(0x0010, 2);
  pixelHead.write("OB", 4, "latin1");
  pixelHead.writeUInt32LE(frames * frameBytes, 8);
  const head = Buffer.concat([fileMeta(WSM_IMAGE_STORAGE, instanceUid, EXPLICIT_VR_LE), ...dataset.map(encode), pixelHead]);
  const fh = await open(path, "w");
  try {
    await fh.write(head);
    const total = frames * frameBytes;
    for (let done = 0; done < total;) {
      const n = Math.min(8 * 2 ** 20, total - done);
      await fh.write(randomBytes(n));
      done += n;
    }
  } finally {
    await fh.close();
  }
  return { size: head.length + frames * frameBytes, frames, frameBytes, pixelOffset: head.length };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
