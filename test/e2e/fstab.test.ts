// mount(8) and fstab, in a private mount namespace: `mount -t fuse.som` and a
// test fstab line with _netdev,nofail run /sbin/mount.fuse.som (installed by
// scripts/setup.sh), which turns -o options into som flags.
import { access, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { startEmulator } from "../helpers/emulator.js";
import { sha256, tempDir } from "../helpers/files.js";
import { run } from "../helpers/proc.js";

let emu: Emulator;
let dir: string;
const BODY = "a slice, say\n";

beforeAll(async () => {
  dir = await tempDir("fstab");
  await mkdir(join(dir, "seed", "series"), { recursive: true });
  await writeFile(join(dir, "seed", "series", "x.dcm"), BODY);
  emu = await startEmulator({ buckets: { "fstab-bucket": join(dir, "seed") } });
});

afterAll(async () => {
  await emu?.close();
});

it("mount -t fuse.som and an fstab line with _netdev,nofail mount with every option given as -o", async () => {
  await access("/sbin/mount.fuse.som"); // installed by scripts/setup.sh
  const a = join(dir, "a");
  const b = join(dir, "b");
  await mkdir(a);
  await mkdir(b);
  const fstab = join(dir, "fstab");
  await writeFile(fstab, [
    "# a test fstab",
    `gs://fstab-bucket/series ${a} fuse.som endpoint=${emu.url},anonymous,cache_size=64M,allow_other,file_mode=0640,log_format=json,log_file=${join(dir, "a.log")},_netdev,nofail,x-systemd.automount 0 0`,
    "",
  ].join("\n"));
  // Everything happens inside the namespace; lazy unmounts on the way out end the daemons whatever failed.
  const script = `
    set -u
    trap 'umount -l ${a} 2>/dev/null; umount -l ${b} 2>/dev/null' EXIT
    mount --make-rprivate /
    mount -T ${fstab} ${a}; echo "fstab-rc=$?"
    echo "a-mode=$(stat -c %a ${a}/x.dcm)"
    echo "a-hash=$(sha256sum < ${a}/x.dcm | cut -d' ' -f1)"
    echo "a-opts=$(grep " ${a} " /proc/self/mounts | cut -d' ' -f3,4)"
    mount -t fuse.som fstab-bucket ${b} -o endpoint=${emu.url},anonymous,dir_mode=0700,no_prefetch,metrics_port=0; echo "t-rc=$?"
    echo "b-mode=$(stat -c %a ${b}/series)"
    echo "b-hash=$(sha256sum < ${b}/series/x.dcm | cut -d' ' -f1)"
    mount -t fuse.som fstab-bucket ${b}2 -o cache_size=lots 2>&1; echo "bad-rc=$?"
    umount ${a}; echo "umount-a=$?"
    umount ${b}; echo "umount-b=$?"
  `;
  const r = await run("unshare", ["-m", "sh", "-c", script], { env: { STORAGE_EMULATOR_HOST: "" } });
  const out = Object.fromEntries(r.stdout.split("\n").filter((l) => /^[a-z-]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  expect(out["fstab-rc"], r.stdout + r.stderr).toBe("0");
  expect(out["a-mode"]).toBe("640");
  expect(out["a-hash"]).toBe(sha256(BODY));
  expect(out["a-opts"]).toMatch(/^fuse\.som ro,.*allow_other/);
  expect(out["t-rc"], r.stdout + r.stderr).toBe("0");
  expect(out["b-mode"]).toBe("700");
  expect(out["b-hash"]).toBe(sha256(BODY));
  // A bad option fails the mount with som's own message (mount(8)'s status 32: mount failure).
  expect(r.stdout).toContain("bad --cache-size");
  expect(out["bad-rc"]).toBe("32");
  expect(out["umount-a"]).toBe("0");
  expect(out["umount-b"]).toBe("0");
  // The fstab's log options reached the daemon.
  const { readFile } = await import("node:fs/promises");
  const log = (await readFile(join(dir, "a.log"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
  expect(log.some((e) => e.msg.startsWith("mounted gs://fstab-bucket/series/"))).toBe(true);
  // Nothing left mounted, in here or there.
  expect((await readFile("/proc/self/mounts", "utf8")).includes(dir)).toBe(false);
});
