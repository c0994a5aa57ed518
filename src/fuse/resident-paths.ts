// Opens answered without JavaScript. A series read (cp -r, rsync, a viewer
// loading a series) opens file after file that the series prefetcher has
// fetched whole ahead of it; each open used to wait for the JavaScript
// thread, which during a cold cp -r is busy receiving the next files (an
// open then took 1-3 ms, against ~0.2 ms idle, and cp fell behind the
// network). So once a small object's bytes are in the memory cache, its path
// is registered with the binding ("resident", scripts/fuse-native/som.patch):
// libfuse's thread answers an open of it with a handle pinned to those
// Buffers (see read-pins.ts), answers its reads and its release, and tells
// this side afterwards, so the open still counts as a read of the object and
// moves the series window on (SomFilesystem.openedNatively).
//
// A registration lasts only as long as the listing that named the object
// stays fresh, so it never serves a generation a JavaScript open would not;
// it is withdrawn when the memory cache drops the bytes, or the path is found
// replaced. A withdrawn entry's Buffers stay alive while handles opened from
// it are open: like pins, those bytes are outside --cache-size, so past a cap
// nothing new is registered until they are released.
//
// With passthrough (a disk tier, passthrough.ts) the same is done for a
// small object whose disk-tier file is checked: its path is registered with
// a backing id, and libfuse's thread answers its open with it — the kernel
// then reads the file itself, and the open costs JavaScript nothing either.
// The id is the passthrough table's (pinned while the binding's entry
// lives, which the binding says: event 4), so JavaScript's own opens of the
// path share it as the kernel requires. Such a registration is withdrawn
// when its listing's freshness runs out (a timer), or the path is found
// replaced; a block the disk tier evicts meanwhile stays readable through
// the id until then.

export interface ResidentTarget {
  resident(path: string, parts: Buffer[], ttlMs: number): boolean;
  residentBacked(path: string, backingId: number, size: number, ttlMs: number): boolean;
  unresident(path: string): boolean;
  onNativeEvents(fn: (kinds: number[], fhs: number[], paths: (string | null)[]) => void): void;
}

export interface ResidentStats {
  /** Paths registered now, and their bytes. */
  registered: number;
  registeredBytes: number;
  /** Opens and releases answered by the binding. */
  opens: number;
  releases: number;
  /** Bytes of withdrawn entries that open handles still hold. */
  heldBytes: number;
}

/** What is told of the handles the binding opens and releases. */
export interface NativeFiles {
  /** `backed`: passed through to a disk-tier file (not read from memory). */
  openedNatively(path: string, backed: boolean): void;
  releasedNatively(): void;
}

/** The backing ids registrations hold (Passthrough). */
export interface BackingPins {
  pin(path: string, file: number): number;
  unpin(path: string): void;
  nativeOpened(): void;
}

const OPENED = 1;
const RELEASED = 2;
const OPENED_BACKED = 3;
const BACKED_GONE = 4;

interface Registration {
  path: string;
  bytes: number;
  /** Date.now() past which the binding no longer answers for it. */
  expires: number;
}

export class ResidentPaths {
  private target: ResidentTarget | undefined;
  /** By cache key: what the memory cache holds the bytes of. */
  private readonly byKey = new Map<string, Registration>();
  private readonly keyOf = new Map<string, string>();
  /** Handles open natively: by handle, the path; by path, how many. */
  private readonly handles = new Map<number, string>();
  private readonly openCount = new Map<string, number>();
  /** Withdrawn while open: bytes still held, by path. */
  private readonly held = new Map<string, number>();
  private heldTotal = 0;
  private registeredBytes = 0;
  private opens = 0;
  private releases = 0;
  /** Paths registered with a backing id: when each stops being fresh (Date.now()). */
  private readonly backedUntil = new Map<string, number>();
  private backing: BackingPins | undefined;
  private expiry: { timer: NodeJS.Timeout; at: number } | undefined;

  /** `files` is told of handles the binding opened and released (after the fact). */
  constructor(private readonly maxHeldBytes: number, private readonly files: NativeFiles, private readonly now: () => number = Date.now) {}

  /** The mounted binding; nothing is registered until then. `backing`: with passthrough, the ids registrations hold. */
  attach(target: ResidentTarget, backing?: BackingPins): void {
    this.target = target;
    this.backing = backing;
    target.onNativeEvents((kinds, fhs, paths) => {
      for (let i = 0; i < kinds.length; i++) {
        const kind = kinds[i];
        if (kind === OPENED || kind === OPENED_BACKED) this.opened(fhs[i]!, paths[i]!, kind === OPENED_BACKED);
        else if (kind === RELEASED) this.released(fhs[i]!);
        else if (kind === BACKED_GONE) this.backing?.unpin(paths[i]!);
      }
    });
  }

  /**
   * Registers `path`, whose checked disk-tier file is open as `file` (`size`
   * bytes), to be opened by the binding and passed through, for `ttlMs`;
   * whether it did (not without passthrough, when it is registered already,
   * or when the kernel would refuse: the path has ordinary opens).
   */
  offerBacked(path: string, file: number, size: number, ttlMs: number): boolean {
    if (!this.target || !this.backing || ttlMs <= 0 || this.keyOf.has(path) || this.backedUntil.has(path)) return false;
    const id = this.backing.pin(path, file);
    if (id <= 0) return false;
    if (!this.target.residentBacked(path, id, size, Math.min(ttlMs, 0x7fffffff))) {
      this.backing.unpin(path);
      return false;
    }
    this.backedUntil.set(path, this.now() + ttlMs);
    this.scheduleExpiry();
    return true;
  }

  /** Whether `path` is registered with a backing id now (offerBacked would refuse it). */
  isBacked(path: string): boolean {
    return this.backedUntil.has(path);
  }

  /** Withdraws backed registrations whose listing is no longer fresh, at the earliest such time. */
  private scheduleExpiry(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const until of this.backedUntil.values()) next = Math.min(next, until);
    if (this.expiry && this.expiry.at <= next) return;
    this.detach();
    if (next === Number.POSITIVE_INFINITY) return;
    const timer = setTimeout(() => {
      this.expiry = undefined;
      const now = this.now();
      for (const [path, until] of this.backedUntil) if (until <= now) this.withdraw(path);
      this.scheduleExpiry();
    }, Math.max(0, Math.min(next - this.now(), 0x7fffffff)));
    timer.unref();
    this.expiry = { timer, at: next };
  }

  /** Stops the expiry timer (the mount is gone). */
  detach(): void {
    if (this.expiry) clearTimeout(this.expiry.timer);
    this.expiry = undefined;
  }

  /**
   * Registers `path` as the object whose whole bytes the cache holds under
   * `key`, for `ttlMs`; whether it did (not when unmounted, when the
   * listing is stale, when withdrawn bytes still open are over the cap, or
   * when it is registered already).
   */
  offer(path: string, key: string, parts: Buffer[], ttlMs: number): boolean {
    if (!this.target || ttlMs <= 0 || this.heldTotal > this.maxHeldBytes || this.backedUntil.has(path)) return false;
    const had = this.keyOf.get(path);
    if (had === key && this.byKey.get(key)!.expires > this.now()) return false;
    if (had !== undefined) this.forget(had);
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    if (!this.target.resident(path, parts, Math.min(ttlMs, 0x7fffffff))) return false;
    this.byKey.set(key, { path, bytes, expires: this.now() + ttlMs });
    this.keyOf.set(path, key);
    this.registeredBytes += bytes;
    return true;
  }

  /** The cache dropped `key`'s bytes. */
  dropped(key: string): void {
    const r = this.byKey.get(key);
    if (r) this.withdraw(r.path);
  }

  /** `path` must not be answered from what was registered (its object was replaced, or its bytes dropped). */
  withdraw(path: string): void {
    if (this.backedUntil.delete(path)) {
      // The binding's entry goes now, or once its handles are released: it says so (event 4).
      this.target?.unresident(path);
      return;
    }
    const key = this.keyOf.get(path);
    if (key === undefined) return;
    const r = this.byKey.get(key)!;
    this.forget(key);
    this.target?.unresident(path);
    if ((this.openCount.get(path) ?? 0) > 0) {
      this.held.set(path, (this.held.get(path) ?? 0) + r.bytes);
      this.heldTotal += r.bytes;
    }
  }

  stats(): ResidentStats {
    return { registered: this.byKey.size + this.backedUntil.size, registeredBytes: this.registeredBytes, opens: this.opens, releases: this.releases, heldBytes: this.heldTotal };
  }

  /** Handles the binding holds open now. */
  get openHandles(): number {
    return this.handles.size;
  }

  private forget(key: string): void {
    const r = this.byKey.get(key);
    if (!r) return;
    this.byKey.delete(key);
    this.keyOf.delete(r.path);
    this.registeredBytes -= r.bytes;
  }

  private opened(fh: number, path: string, backed: boolean): void {
    this.opens++;
    this.handles.set(fh, path);
    this.openCount.set(path, (this.openCount.get(path) ?? 0) + 1);
    if (backed) this.backing?.nativeOpened();
    this.files.openedNatively(path, backed);
  }

  private released(fh: number): void {
    this.releases++;
    const path = this.handles.get(fh);
    if (path === undefined) return;
    this.handles.delete(fh);
    this.files.releasedNatively();
    const n = (this.openCount.get(path) ?? 1) - 1;
    if (n > 0) {
      this.openCount.set(path, n);
      return;
    }
    this.openCount.delete(path);
    const held = this.held.get(path);
    if (held !== undefined) {
      this.held.delete(path);
      this.heldTotal -= held;
    }
  }
}
