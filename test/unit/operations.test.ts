// The pieces behind running som as a service: the token bucket behind the
// shared-link limits, mount.fuse.som's option translation, the two log
// formats, and the version the metrics report.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fstabArgs } from "../../src/cli/fstab.js";
import { errnoName } from "../../src/metrics/metrics.js";
import { ManualClock } from "../../src/util/clock.js";
import { StreamLogger } from "../../src/util/log.js";
import { TokenBucket } from "../../src/util/token-bucket.js";
import { VERSION } from "../../src/version.js";
import { ROOT } from "../helpers/proc.js";

describe("TokenBucket", () => {
  it("lets the burst through, then holds takers to the rate in arrival order", async () => {
    const clock = new ManualClock();
    const b = new TokenBucket(10, 10, clock); // 10 per second
    const done: number[] = [];
    const takes = Array.from({ length: 30 }, (_, i) => b.take(1).then(() => done.push(i)));
    await Promise.resolve();
    for (let ms = 0; ms <= 2000; ms += 10) {
      await new Promise((r) => setImmediate(r));
      // By time t at most burst + rate * t tokens have gone.
      expect(done.length).toBeLessThanOrEqual(10 + Math.floor((ms / 1000) * 10) + 1);
      clock.advance(10);
    }
    await Promise.all(takes);
    expect(done).toEqual([...Array(30).keys()]);
  });

  it("lets a request bigger than the burst go on a full bucket; those after it pay", async () => {
    const clock = new ManualClock();
    const b = new TokenBucket(100, 100, clock);
    let big = false;
    void b.take(250).then(() => (big = true));
    await new Promise((r) => setImmediate(r));
    expect(big).toBe(true);
    let next = false;
    void b.take(50).then(() => (next = true));
    for (let i = 0; i < 19; i++) {
      clock.advance(100);
      await new Promise((r) => setImmediate(r));
    }
    expect(next).toBe(false); // 150 of debt + 50 wanted = 2 s at 100/s
    clock.advance(200);
    for (let i = 0; i < 5 && !next; i++) await new Promise((r) => setImmediate(r));
    expect(next).toBe(true);
  });

  it("refuses a rate or burst that is not positive", () => {
    expect(() => new TokenBucket(0, 1, new ManualClock())).toThrow(RangeError);
  });
});

describe("mount.fuse.som", () => {
  it("turns -o options into som flags, drops mount(8)'s and systemd's, and mounts in the background", () => {
    const c = fstabArgs(["gs://b/p", "/mnt/x", "-o", "rw,allow_other,cache_size=2G,_netdev,nofail,x-systemd.automount,noatime,uid=1000,no_prefetch,log_file=/var/log/som.log"]);
    expect(c.args).toEqual(["mount", "gs://b/p", "/mnt/x", "--allow-other", "--cache-size", "2G", "--uid", "1000", "--no-prefetch", "--log-file", "/var/log/som.log", "--background"]);
    expect(c.fake).toBe(false);
  });

  it("takes mount(8)'s flags: -f pretends, -v says, -t and -N are skipped", () => {
    const c = fstabArgs(["-fv", "bucket", "/m", "-t", "fuse.som", "-N", "/proc/1/ns/mnt", "-oanonymous"]);
    expect(c).toMatchObject({ fake: true, verbose: true, args: ["mount", "bucket", "/m", "--anonymous", "--background"] });
  });

  it("refuses what it cannot read", () => {
    expect(() => fstabArgs(["only-one"])).toThrow(/usage: mount.fuse.som/);
    expect(() => fstabArgs(["b", "/m", "-o", "--evil=1"])).toThrow(/bad option/);
    expect(() => fstabArgs(["b", "/m", "--what"])).toThrow(/unknown argument/);
  });
});

describe("logs", () => {
  const capture = (format: "text" | "json"): { log: StreamLogger; lines: string[] } => {
    const lines: string[] = [];
    return { log: new StreamLogger("info", (l) => void lines.push(l), "som", format), lines };
  };

  it("json: one object per line with time, level, msg and the fields; control characters escaped, names intact", () => {
    const { log, lines } = capture("json");
    const name = "a\u001b[2Jb\u009bc\u202ed";
    log.warn(`read ${name} failed`, { bucket: "bkt", path: name, generation: "17", status: 503, duration_ms: 12, absent: undefined });
    log.debug("not at info");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\n$/);
    expect(/[\u0000-\u001f\u007f-\u009f\u202e]/.test(lines[0]!.slice(0, -1))).toBe(false);
    const ev = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(ev).toMatchObject({ level: "warn", msg: `read ${name} failed`, bucket: "bkt", path: name, generation: "17", status: 503, duration_ms: 12 });
    expect(Object.keys(ev)).not.toContain("absent");
    expect(new Date(String(ev.time)).toISOString()).toBe(ev.time);
  });

  it("text: key=value after the message, quoted when needed, escaped", () => {
    const { log, lines } = capture("text");
    log.error("gcs read", { path: "with space", status: 503, name: "x\u001by" });
    expect(lines[0]).toMatch(/^\S+Z som error: gcs read path="with space" status=503 name=x\\u001by\n$/);
  });
});

it("errno names and the version match what they describe", async () => {
  expect(errnoName(-2)).toBe("ENOENT");
  expect(errnoName(-5)).toBe("EIO");
  expect(errnoName(-99)).toBe("E99");
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
  expect(VERSION).toBe(pkg.version);
});
