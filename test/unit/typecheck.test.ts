// The tests are TypeScript too: tsc checks them (and src) on every run, so a
// test can't silently drift from the code it exercises.
import { describe, expect, it } from "vitest";
import { ROOT, run } from "../helpers/proc.js";

describe("type-checking", () => {
  it("tsc finds no error in src/ and test/", async () => {
    const r = await run(`${ROOT}/node_modules/.bin/tsc`, ["-p", `${ROOT}/tsconfig.test.json`]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});
