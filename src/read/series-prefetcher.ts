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
import type { Namespace } from "../namespace/namespace.js";
import type { Logger } from "../util/log.js";
import type { ObjectReader, ReadTarget } from "./object-reader.js";
import { SequenceDetector, type PrefetchPolicy } from "./prefetch-policy.js";

/** How far ahead in listing order the next open may be and still count as in order. */
const MAX_SKIP = 4;
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

const join = (dir: string, name: string): string => `${dir === "/" ? "" : dir}/${name}`;

export class SeriesPrefetcher {
  private readonly files = new SequenceDetector(MAX_SKIP);
  private readonly dirs = new SequenceDetector(MAX_SKIP);

  constructor(private readonly ns: Namespace, private readonly reader: ObjectReader, private readonly policy: PrefetchPolicy, private readonly log: Logger) {}

  /** A file was opened. Never throws; prefetching is best effort. */
  async opened(path: string): Promise<void> {
    try {
      const [dir, name] = split(path);
      // Only a listed folder: a file opened by name in a huge, never-listed one is no series read.
      const listing = this.ns.cached(dir);
      if (!listing) return;
      const i = listing.indexOf(name);
      if (i < 0 || this.files.observe(dir, i) === 0) return;
      const depth = this.policy.depth();
      let queued = 0;
      for (let j = i + 1; queued < depth; j++) {
        const child = listing.at(j);
        if (!child) {
          if (j >= listing.positions) break;
          continue;
        }
        const e = child[1];
        if (e.kind !== "file" || e.source.kind !== "object") continue;
        const target: ReadTarget = { ...e.source, size: e.size };
        this.reader.prefetchHead(target);
        queued++;
      }
    } catch (err) {
      this.log.debug(`series prefetch after ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Lists a directory ahead of the walker, and `levels` more below it (its first few sub-directories). */
  private prefetchDir(path: string, levels: number): void {
    this.ns.readdir(path).then((listing) => {
      if (levels === 0) return;
      let n = 0;
      for (const [child, e] of listing.entries()) {
        if (e.kind !== "dir") continue;
        this.prefetchDir(join(path, child), levels - 1);
        if (++n >= DIRS_AHEAD) break;
      }
    }, () => undefined);
  }

  /** A directory was opened for reading. Never throws. */
  async listed(path: string): Promise<void> {
    try {
      if (path !== "/") await this.walkedInto(path);
      // Small fan-out: list the few sub-directories now.
      const listing = await this.ns.readdir(path);
      const dirs: string[] = [];
      for (const [child, e] of listing.entries()) {
        if (e.kind !== "dir") continue;
        dirs.push(child);
        if (dirs.length > SMALL_FANOUT) return;
      }
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
