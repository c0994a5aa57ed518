// Writes small but valid DICOM Part 10 files (explicit VR little endian, CT
// image storage, 16-bit monochrome pixels) for the demo, tests and benchmarks.
// dcmdump reads them; viewers open them.

export interface Element {
  group: number;
  element: number;
  vr: string;
  value: Buffer;
}

const LONG_VRS = new Set(["OB", "OW", "OF", "SQ", "UT", "UN"]);

function pad(value: Buffer, vr: string): Buffer {
  if (value.length % 2 === 0) return value;
  const filler = vr === "UI" || vr === "OB" ? 0x00 : 0x20;
  return Buffer.concat([value, Buffer.from([filler])]);
}

export function encode(e: Element): Buffer {
  const value = pad(e.value, e.vr);
  const long = LONG_VRS.has(e.vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(e.group, 0);
  head.writeUInt16LE(e.element, 2);
  head.write(e.vr, 4, "latin1");
  if (long) head.writeUInt32LE(value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

export const str = (s: string): Buffer => Buffer.from(s, "latin1");
export const us = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};

export interface SyntheticImage {
  patientId: string;
  studyUid: string;
  seriesUid: string;
  instanceUid: string;
  instanceNumber: number;
  rows: number;
  columns: number;
  modality?: string;
  accessionNumber?: string;
}

const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_VR_LE = "1.2.840.10008.1.2.1";

/** A deterministic pixel pattern (a ring that moves with the slice). */
function pixels(img: SyntheticImage): Buffer {
  const b = Buffer.alloc(img.rows * img.columns * 2);
  const cx = img.columns / 2;
  const cy = img.rows / 2;
  for (let y = 0; y < img.rows; y++) {
    for (let x = 0; x < img.columns; x++) {
      const r = Math.hypot(x - cx, y - cy);
      const v = Math.round(1000 + 800 * Math.sin(r / 6 + img.instanceNumber / 4));
      b.writeUInt16LE(v & 0xfff, (y * img.columns + x) * 2);
    }
  }
  return b;
}

export function syntheticDicom(img: SyntheticImage): Buffer {
  const dataset: Element[] = [
    { group: 0x0008, element: 0x0016, vr: "UI", value: str(CT_IMAGE_STORAGE) },
    { group: 0x0008, element: 0x0018, vr: "UI", value: str(img.instanceUid) },
    { group: 0x0008, element: 0x0050, vr: "SH", value: str(img.accessionNumber ?? "") },
    { group: 0x0008, element: 0x0060, vr: "CS", value: str(img.modality ?? "CT") },
    { group: 0x0010, element: 0x0010, vr: "PN", value: str("Anonymous^Patient") },
    { group: 0x0010, element: 0x0020, vr: "LO", value: str(img.patientId) },
    { group: 0x0020, element: 0x000d, vr: "UI", value: str(img.studyUid) },
    { group: 0x0020, element: 0x000e, vr: "UI", value: str(img.seriesUid) },
    { group: 0x0020, element: 0x0013, vr: "IS", value: str(String(img.instanceNumber)) },
    { group: 0x0028, element: 0x0002, vr: "US", value: us(1) },
    { group: 0x0028, element: 0x0004, vr: "CS", value: str("MONOCHROME2") },
    { group: 0x0028, element: 0x0010, vr: "US", value: us(img.rows) },
    { group: 0x0028, element: 0x0011, vr: "US", value: us(img.columns) },
    { group: 0x0028, element: 0x0100, vr: "US", value: us(16) },
    { group: 0x0028, element: 0x0101, vr: "US", value: us(12) },
    { group: 0x0028, element: 0x0102, vr: "US", value: us(11) },
    { group: 0x0028, element: 0x0103, vr: "US", value: us(0) },
    { group: 0x7fe0, element: 0x0010, vr: "OW", value: pixels(img) },
  ];
  return Buffer.concat([fileMeta(CT_IMAGE_STORAGE, img.instanceUid, EXPLICIT_VR_LE), ...dataset.map(encode)]);
}

/** Preamble, "DICM" and the file meta group for one instance. */
export function fileMeta(sopClass: string, instanceUid: string, transferSyntax: string): Buffer {
  const metaBody = Buffer.concat([
    { group: 0x0002, element: 0x0001, vr: "OB", value: Buffer.from([0, 1]) },
    { group: 0x0002, element: 0x0002, vr: "UI", value: str(sopClass) },
    { group: 0x0002, element: 0x0003, vr: "UI", value: str(instanceUid) },
    { group: 0x0002, element: 0x0010, vr: "UI", value: str(transferSyntax) },
    { group: 0x0002, element: 0x0012, vr: "UI", value: str("1.2.826.0.1.3680043.10.1234.1") },
  ].map(encode));
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length);
  return Buffer.concat([
    Buffer.alloc(128),
    str("DICM"),
    encode({ group: 0x0002, element: 0x0000, vr: "UL", value: groupLength }),
    metaBody,
  ]);
}

/** UIDs under a fixed root, unique per (series, instance). */
export function uid(...parts: number[]): string {
  return `1.2.826.0.1.3680043.10.1234.${parts.join(".")}`;
}
