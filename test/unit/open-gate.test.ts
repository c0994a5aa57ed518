// Opens that arrive after the mount appears but before its read-ahead is
// raised wait for the raise: the kernel takes an open file's read-ahead from
// the device when the open returns. What the gate does to the operations;
// the read-ahead itself is raised and used through real mounts (every e2e
// test, and the bench's cold cat).
import { describe, expect, it } from "vitest";
import type { FuseOps } from "../../src/fuse/binding.js";
import { OpenGate } from "../../src/fuse/fuse-mount.js";

function recordingOps(answers: string[]): FuseOps {
  return {
    open: (path, _flags, cb) => {
      answers.push(path);
      cb(0, answers.length);
    },
    getattr: (_path, cb) => cb(-2),
  };
}

describe("OpenGate", () => {
  it("holds opens until released, then answers them in order, and later ones at once", () => {
    const answered: string[] = [];
    const gate = new OpenGate();
    const ops = gate.wrap(recordingOps(answered));
    const codes: number[] = [];
    ops.open!("/a", 0, (code, fd) => codes.push(code, fd!));
    ops.open!("/b", 0, (code, fd) => codes.push(code, fd!));
    expect(answered).toEqual([]);
    expect(codes).toEqual([]);
    gate.release();
    expect(answered).toEqual(["/a", "/b"]);
    expect(codes).toEqual([0, 1, 0, 2]);
    ops.open!("/c", 0, (code, fd) => codes.push(code, fd!));
    expect(answered).toEqual(["/a", "/b", "/c"]);
    expect(codes.slice(4)).toEqual([0, 3]);
    // Released twice: nothing is answered again.
    gate.release();
    expect(answered.length).toBe(3);
  });

  it("leaves every other operation alone", () => {
    const gate = new OpenGate();
    const ops = gate.wrap(recordingOps([]));
    const got: number[] = [];
    ops.getattr!("/x", (code) => got.push(code));
    expect(got).toEqual([-2]);
    expect(gate.wrap({}).open).toBeUndefined();
  });
});
