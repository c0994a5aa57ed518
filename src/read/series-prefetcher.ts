// Series prefetch: cp -r, rsync and DICOM viewers read the files of a folder
// one after another, so a mount that waits for each file in turn is bound
// by latency. When files of a directory are opened in listing order (each a
// little after the last), the next files are fetched ahead, in parallel —
// whole when small, their first block (the header a viewer scans first) when
// big. How many is PrefetchPolicy's call, from what prefetching has been
// worth; the reader's budget keeps it inside --cache-size.
//
// Walking a tree (find, du, cp -r of a study) is the same pattern one level
// up: when sibling directories are opened in order, the layout is told
// (Namespace.walking) and lists the rest of the sub-tree ahead in one pass;
// a layout that can't gets the next few siblings listed ahead instead.
import type { Entry, Namespace } from "../namespace/namespace.js";
import type { Logger } from "../util/log.js";
import type { ObjectReader, ReadTarget } from "./object-reader.js";
import { SequenceDetector, type PrefetchPolicy } from "./prefetch-policy.js";

/** How far ahead in listing order the next open may be and still count as in order. */
const MAX_SKIP = 4;
/** Folders whose prefetch window is remembered. */
const WINDOWS = 256;
/** Sibling directories listed ahead of a tree walk, where the layout can't walk ahead itself. */
const DIRS_AHEAD = 8;
/**
 * A directory with at most this many sub-directories gets them listed as soon
 * as it is listed itself: a few requests that make `cd`, `ls -R` and `find`
 * one round trip per level instead of one per directory. Wider directories
 * (an Imaging Data Commons bucket root has thousands) wait for a walk.
 */
const SMALL_FANOUT = 16;

function split(path: string): [string, string] {
  const i = path.lastIndexOf("/");
  return [i <= 0 ? "/" : path.slice(0, i), path.slice(i + 1)];
}

/** What series prefetch would fetch of a child: an object (inline sidecars and directories are nothing). */
function targetOf(child: [string, Entry] | undefined): ReadTarget | undefined {
  const e = child?.[1];
  return e?.kind === "file" && e.source.kind === "object" ? { ...e.source, size: e.size } : undefined;
}

/** A folder read in order: see SeriesPrefetcher.windows. */
interface SeriesWindow {
  last: number;
  next: number;
  filesAhead: number;
  positions: number;
}

const join = (dir: string, name: string): string => `${dir === "/" ? "" : dir}/${name}`;

export class SeriesPrefetcher {
  private readonly dirs = new SequenceDetector(MAX_SKIP);
  /**
   * Per folder read in order: the position opened last, the next position
   * not yet looked at, and how many files between them are queued (or were
   * present already). An open within MAX_SKIP after the last one is in order.
   */
  private readonly windows = new Map<string, SeriesWindow>();

  /**
   * Told of each small object of a series read, with its path and how long
   * the listing that names it stays fresh: the one opened and those queued
   * ahead of it, fetched whole (see fuse/resident-paths.ts).
   */
  wholeInSeries: ((path: string, target: ReadTarget, freshForMs: number) => void) | undefined;

  constructor(private readonly ns: Namespace, private readonly reader: ObjectReader, private readonly policy: PrefetchPolicy, private readonly log: Logger) {}

  /** A file was opened. Never throws; prefetching is best effort. */
  async opened(path: string): Promise<void> {
    try {
      const [dir, name] = split(path);
      // Only a listed folder: a file opened by name in a huge, never-listed one is no series read.
      const listing = this.ns.cached(dir);
      if (!listing) return;
      const i = listing.indexOf(name);
      if (i < 0) return;
      this.tellWhole(dir, listing.at(i));
      let w = this.windows.get(dir);
      this.windows.delete(dir); // re-inserted: most recent last, oldest forgotten first
      if (!w || w.positions !== listing.positions || i <= w.last || i - w.last > MAX_SKIP) {
        // The first open, one out of order, or a new listing: nothing is known to be queued past here.
        // An open at the top of the folder starts a series read (cp -r, rsync, a viewer loading
        // a series begin there): read ahead from this open, not the next — on a cold mount that
        // is one round trip sooner. One further down waits for a second open in order.
        const fresh = { last: i, next: i + 1, filesAhead: 0, positions: listing.positions };
        if (i >= MAX_SKIP) return this.remember(dir, fresh);
        w = { ...fresh, last: -1, next: 0 };
      }
      this.remember(dir, w);
      // The files this open stepped over are no longer ahead of the reader.
      for (let j = w.last + 1; j <= i && j < w.next; j++) if (targetOf(listing.at(j))) w.filesAhead--;
      w.last = i;
      if (w.next <= i) {
        w.next = i + 1;
        w.filesAhead = 0;
      }
      // Queue only what the window gained: each open in a long series costs a
      // step or two here, not a walk over the whole depth (this runs before the
      // open is answered).
      const depth = this.policy.depth();
      while (w.filesAhead < depth && w.next < listing.positions) {
        const target = targetOf(listing.at(w.next));
        if (target) {
          // Over the budget: try again from here on the next open.
          if (!this.reader.prefetchHead(target)) break;
          this.tellWhole(dir, listing.at(w.next));
          w.filesAhead++;
        }
        w.next++;
      }
    } catch (err) {
      this.log.debug(`series prefetch after ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private tellWhole(dir: string, child: [string, Entry] | undefined): void {
    const target = targetOf(child);
    if (target && this.wholeInSeries && this.reader.isWhole(target)) this.wholeInSeries(join(dir, child![0]), target, this.ns.freshFor?.(dir) ?? 0);
  }

  /** Keeps a folder's window, as the most recent; the oldest is forgotten past WINDOWS. */
  private remember(dir: string, w: SeriesWindow): void {
    this.windows.set(dir, w);
    if (this.windows.size > WINDOWS) this.windows.delete(this.windows.keys().next().value!);
  }

  /** Lists a directory ahead of the walker, and `levels` more below it (its first few sub-directories). */
  private prefetchDir(path: string, levels: number): void {
    this.ns.readdir(path).then((listing) => {
      if (levels === 0) return;
      for (const child of listing.dirNames(DIRS_AHEAD)) this.prefetchDir(join(path, child), levels - 1);
    }, () => undefined);
  }

  /** A directory was opened for reading. Never throws. */
  async listed(path: string): Promise<void> {
    try {
      if (path !== "/") await this.walkedInto(path);
      // Small fan-out: list the few sub-directories now.
      const listing = await this.ns.readdir(path);
      const dirs = listing.dirNames(SMALL_FANOUT + 1);
      if (dirs.length > SMALL_FANOUT) return;
      for (const child of dirs) this.prefetchDir(join(path, child), 0);
    } catch (err) {
      this.log.debug(`directory prefetch after ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Sibling directories opened in listing order are a walk: let the layout list ahead of it. */
  private async walkedInto(path: string): Promise<void> {
    const [parent, name] = split(path);
    // A walk reads the parent first; without its listing this is no walk (and listing a
    // million-series root to find out would be the most expensive way to say so).
    const listing = this.ns.cached(parent);
    if (!listing) return;
    const i = listing.indexOf(name);
    if (i < 0 || this.dirs.observe(parent, i) === 0) return;
    if (this.ns.walking) {
      this.ns.walking(parent, name);
      return;
    }
    let queued = 0;
    for (let j = i + 1; queued < DIRS_AHEAD; j++) {
      const child = listing.at(j);
      if (!child) {
        if (j >= listing.positions) break;
        continue;
      }
      if (child[1].kind !== "dir") continue;
      this.prefetchDir(join(parent, child[0]), 1);
      queued++;
    }
  }
}
