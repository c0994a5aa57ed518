// What the mount registers with the binding as resident (opens answered by
// libfuse's thread), against a recording binding: registrations last as long
// as their listing is fresh, go when the cache drops the bytes or the path is
// found replaced, and bytes still held by open handles are capped.
import { describe, expect, it } from "vitest";
import { ResidentPaths, type BackingPins, type ResidentTarget } from "../../src/fuse/resident-paths.js";

class Binding implements ResidentTarget {
  readonly calls: string[] = [];
  emit: (kinds: number[], fhs: number[], paths: (string | null)[]) => void = () => undefined;
  resident(path: string, parts: Buffer[], ttlMs: number): boolean {
    this.calls.push(`+${path} ${parts.reduce((n, p) => n + p.length, 0)} ${ttlMs}`);
    return true;
  }
  residentBacked(path: string, backingId: number, size: number, ttlMs: number): boolean {
    this.calls.push(`+${path} id ${backingId} ${size} ${ttlMs}`);
    return true;
  }
  unresident(path: string): boolean {
    this.calls.push(`-${path}`);
    return true;
  }
  onNativeEvents(fn: (kinds: number[], fhs: number[], paths: (string | null)[]) => void): void {
    this.emit = fn;
  }
}

function setup(maxHeld = 1_000): { r: ResidentPaths; b: Binding; files: string[]; clock: { t: number } } {
  const files: string[] = [];
  const clock = { t: 1_000 };
  const r = new ResidentPaths(maxHeld, { openedNatively: (p, backed) => void files.push(`open ${p}${backed ? " backed" : ""}`), releasedNatively: () => void files.push("release") }, () => clock.t);
  const b = new Binding();
  r.attach(b);
  return { r, b, files, clock };
}

const bytes = (n: number): Buffer[] => [Buffer.alloc(n - 1), Buffer.alloc(1)];

describe("ResidentPaths", () => {
  it("registers a path for as long as its listing is fresh, once, and again after that", () => {
    const { r, b, clock } = setup();
    expect(new ResidentPaths(10, { openedNatively: () => undefined, releasedNatively: () => undefined }).offer("/a", "k", bytes(10), 5_000)).toBe(false); // not mounted
    expect(r.offer("/a", "ka", bytes(100), 0)).toBe(false); // stale listing
    expect(r.offer("/a", "ka", bytes(100), 5_000)).toBe(true);
    expect(r.offer("/a", "ka", bytes(100), 5_000)).toBe(false); // registered already
    clock.t += 5_001;
    expect(r.offer("/a", "ka", bytes(100), 5_000)).toBe(true); // the binding let it lapse
    expect(b.calls).toEqual(["+/a 100 5000", "+/a 100 5000"]);
    expect(r.stats()).toMatchObject({ registered: 1, registeredBytes: 100 });
  });

  it("withdraws a path when the cache drops its bytes or it is found replaced; a new generation replaces the old", () => {
    const { r, b } = setup();
    r.offer("/a", "ka", bytes(100), 5_000);
    r.offer("/b", "kb", bytes(50), 5_000);
    r.dropped("kb");
    r.dropped("unknown");
    expect(r.offer("/a", "ka2", bytes(70), 5_000)).toBe(true); // the path now names another generation
    r.withdraw("/a");
    expect(b.calls).toEqual(["+/a 100 5000", "+/b 50 5000", "-/b", "+/a 70 5000", "-/a"]);
    expect(r.stats()).toMatchObject({ registered: 0, registeredBytes: 0 });
    r.dropped("ka"); // the old generation's key: nothing registered under it any more
    expect(b.calls).toHaveLength(5);
  });

  it("tells the filesystem of native opens and releases, and caps bytes withdrawn while still open", () => {
    const { r, b, files } = setup(150);
    r.offer("/a", "ka", bytes(100), 5_000);
    r.offer("/b", "kb", bytes(100), 5_000);
    b.emit([1, 1, 1], [0x80000001, 0x80000002, 0x80000003], ["/a", "/a", "/b"]);
    expect(r.openHandles).toBe(3);
    r.dropped("ka"); // two handles still hold /a's 100 bytes
    r.dropped("kb");
    expect(r.stats().heldBytes).toBe(200);
    expect(r.offer("/c", "kc", bytes(10), 5_000)).toBe(false); // over the cap
    b.emit([2, 2], [0x80000001, 0x80000003], [null, null]);
    expect(r.stats().heldBytes).toBe(100); // /b released; /a still open once
    expect(r.offer("/c", "kc", bytes(10), 5_000)).toBe(true);
    b.emit([2, 2], [0x80000002, 0x80000009], [null, null]); // the last of /a, and one never seen
    expect(r.stats()).toMatchObject({ heldBytes: 0, opens: 3, releases: 4 });
    expect(r.openHandles).toBe(0);
    expect(files).toEqual(["open /a", "open /a", "open /b", "release", "release", "release"]);
  });

  it("with passthrough, registers a checked file with a backing id it pins until the binding's entry is gone, and withdraws it when its listing lapses", async () => {
    const files: string[] = [];
    const r = new ResidentPaths(1_000, { openedNatively: (p, backed) => void files.push(`open ${p}${backed ? " backed" : ""}`), releasedNatively: () => void files.push("release") });
    const b = new Binding();
    const pins: string[] = [];
    let refuse = false;
    const backing: BackingPins = {
      pin: (path, file) => (pins.push(`pin ${path} ${file}`), refuse ? 0 : 7),
      unpin: (path) => void pins.push(`unpin ${path}`),
      nativeOpened: () => void pins.push("native open"),
    };
    expect(r.offerBacked("/a", 40, 500, 5_000)).toBe(false); // not mounted
    r.attach(b, backing);
    expect(r.offerBacked("/a", 40, 500, 0)).toBe(false); // stale listing
    expect(r.isBacked("/a")).toBe(false);
    expect(r.offerBacked("/a", 40, 500, 80)).toBe(true);
    expect(r.isBacked("/a")).toBe(true);
    expect(r.offerBacked("/a", 40, 500, 80)).toBe(false); // registered already
    expect(r.offer("/a", "ka", bytes(100), 5_000)).toBe(false); // nor from memory beside it
    refuse = true;
    expect(r.offerBacked("/b", 41, 500, 5_000)).toBe(false); // the passthrough table could not (ordinary opens)
    expect(b.calls).toEqual(["+/a id 7 500 80"]);
    expect(r.stats()).toMatchObject({ registered: 1 });
    // The binding opens it (passed through) and releases it; the counts follow.
    b.emit([3, 2], [0x80000001, 0x80000001], ["/a", null]);
    expect(files).toEqual(["open /a backed", "release"]);
    expect(pins.filter((p) => p === "native open")).toHaveLength(1);
    // Its listing's freshness runs out: withdrawn; the id stays pinned until the binding says its entry is gone.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(b.calls).toEqual(["+/a id 7 500 80", "-/a"]);
    expect(r.stats()).toMatchObject({ registered: 0 });
    expect(pins).not.toContain("unpin /a");
    b.emit([4], [7], ["/a"]);
    expect(pins).toContain("unpin /a");
    r.detach();
  });

  it("withdraws each backed registration when its own listing lapses, an earlier one first", async () => {
    const r = new ResidentPaths(1_000, { openedNatively: () => undefined, releasedNatively: () => undefined });
    const b = new Binding();
    r.attach(b, { pin: () => 9, unpin: () => undefined, nativeOpened: () => undefined });
    expect(r.offerBacked("/late", 40, 500, 10_000)).toBe(true);
    expect(r.offerBacked("/soon", 41, 500, 60)).toBe(true); // registered after, lapses first
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(b.calls.filter((c) => c.startsWith("-"))).toEqual(["-/soon"]);
    r.detach();
  });
});
