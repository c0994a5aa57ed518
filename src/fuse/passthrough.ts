// Passthrough (Linux 6.9+): a file whose whole content the disk tier holds,
// checked, is opened with a backing file — the tier's own file of its bytes —
// and the kernel then reads it from that file itself, through the local file
// system's page cache: no request reaches the daemon for its reads. What is
// left per file is its open and release, which still come here (the series
// prefetcher is driven by opens).
//
// The kernel's rules, per inode (fs/fuse/iomode.c), which this table keeps:
// while any handle of a file is open through the page cache (an ordinary
// open), no open of it may pass through; while one passes through, every
// other open of it must pass through to the same backing file. Breaking
// either fails the open with EIO. So each path is in one mode at a time:
// opens of a path already passing through share its backing id (even if the
// file they named was not checked: its bytes are the same object's), and a
// path with an ordinary open gets ordinary opens until all of them are
// released. The kernel counts a release before telling us of it, so this
// table never believes in fewer opens than the kernel does.
//
// A backing id holds the kernel's own reference to the file: the file may be
// evicted from the tier (unlinked) meanwhile and still be read; the id is
// closed when the last handle using it is released. A path registered with
// the binding (resident-paths.ts: its opens answered by libfuse's thread,
// passed through) holds its id as one more handle (pin), until the binding
// says its entry is gone, so JavaScript's own opens of that path share it.
import type { Logger } from "../util/log.js";

/** What the binding offers (the patched fuse-native's passthrough, backingOpen, backingClose). */
export interface BackingTarget {
  /** Whether the kernel agreed to passthrough at init. */
  passthrough(): boolean;
  /** A backing id (> 0) for fd, or a negative errno. */
  backingOpen(fd: number): number;
  backingClose(id: number): number;
}

export interface PassthroughStats {
  /** Opens answered with a backing file (by JavaScript or by the binding). */
  opens: number;
  /** Backing files in use now (one per path passing through). */
  files: number;
}

interface Handle {
  path: string;
  backed: boolean;
}

export class Passthrough {
  private target: BackingTarget | undefined;
  private readonly backed = new Map<string, { id: number; handles: number }>();
  /** Handles open through the page cache, by path. */
  private readonly cached = new Map<string, number>();
  private readonly handles = new Map<number, Handle>();
  private opens = 0;
  private warned = false;
  /** Opens the binding answered itself, passed through (resident-paths.ts). */
  private nativeOpens = 0;
  /** The kernel refused a backing file for lack of privilege (EPERM: it takes CAP_SYS_ADMIN): it always will. */
  private forbidden = false;

  constructor(private readonly log: Logger) {}

  /** The mounted binding; nothing passes through until then. */
  attach(target: BackingTarget): void {
    this.target = target;
  }

  /** Whether the kernel takes backing files on this mount. */
  active(): boolean {
    return this.target !== undefined && !this.forbidden && this.target.passthrough();
  }

  /** Whether an open of `path` could get a new backing file (so it is worth looking for one). */
  wants(path: string): boolean {
    return this.active() && !this.backed.has(path) && !this.cached.has(path);
  }

  /**
   * Decides how handle `fd` of `path` is opened, just before the open is
   * answered: the backing id to answer with, or 0 for an ordinary open.
   * `file` is the descriptor of the checked disk-tier file of its bytes, if
   * there is one (a backing id takes the kernel's own reference to it).
   */
  opened(path: string, fd: number, file?: number): number {
    const id = this.hold(path, file);
    this.handles.set(fd, { path, backed: id > 0 });
    if (id > 0) this.opens++;
    else this.cached.set(path, (this.cached.get(path) ?? 0) + 1);
    return id;
  }

  /**
   * A backing id for the binding to answer opens of `path` with (a
   * registration, resident-paths.ts): the one `path` passes through to
   * already, or a new one for `file` (the checked disk-tier file). Held as a
   * handle until unpin. 0 when it cannot be: passthrough is off, the path has
   * ordinary opens, or the kernel refused.
   */
  pin(path: string, file: number): number {
    return this.active() ? this.hold(path, file) : 0;
  }

  /** A registration's hold on `path`'s backing id ends (the binding's entry is gone). */
  unpin(path: string): void {
    this.letGo(path);
  }

  /**
   * One more hold on `path`'s backing id: the one it passes through to, or a
   * new one for `file` unless the path has ordinary opens; 0 when there is
   * none (no file, ordinary opens, or the kernel refused it).
   */
  private hold(path: string, file: number | undefined): number {
    const shared = this.backed.get(path);
    if (shared) {
      shared.handles++;
      return shared.id;
    }
    if (file === undefined || !this.target || this.cached.has(path)) return 0;
    const r = this.target.backingOpen(file);
    if (r > 0) {
      this.backed.set(path, { id: r, handles: 1 });
      return r;
    }
    if (r === -1) this.forbidden = true;
    if (!this.warned) {
      this.warned = true;
      this.log.warn(`passthrough: the kernel refused a backing file (errno ${-r}${r === -1 ? ": the daemon lacks CAP_SYS_ADMIN" : ""}); files are read through the daemon`);
    }
    return 0;
  }

  /** One hold on `path`'s backing id ends; the last closes it. */
  private letGo(path: string): void {
    const b = this.backed.get(path);
    if (b && --b.handles === 0) {
      this.backed.delete(path);
      this.target?.backingClose(b.id);
    }
  }

  /** The binding answered an open with a backing id itself. */
  nativeOpened(): void {
    this.nativeOpens++;
  }

  /** When handle `fd` is released (the kernel has already let go of it). */
  released(fd: number): void {
    const h = this.handles.get(fd);
    if (!h) return;
    this.handles.delete(fd);
    if (h.backed) {
      this.letGo(h.path);
      return;
    }
    const n = (this.cached.get(h.path) ?? 1) - 1;
    if (n > 0) this.cached.set(h.path, n);
    else this.cached.delete(h.path);
  }

  stats(): PassthroughStats {
    return { opens: this.opens + this.nativeOpens, files: this.backed.size };
  }
}
