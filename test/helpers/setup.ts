// Runs in every test file: whatever a file mounted or made in /tmp is gone
// after it, so runs do not fill the machine's disk (the disk tier's own 5%
// floor then makes later runs fail) or leave mounts behind.
import { afterAll } from "vitest";
import { removeTempDirs } from "./files.js";
import { stopAllMounts } from "./mount.js";

afterAll(async () => {
  await stopAllMounts();
  await removeTempDirs();
});
