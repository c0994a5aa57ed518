// Series prefetch: cp -r, rsync and DICOM viewers read the files of a folder
// one after another, so a mount that waits for each file in turn is bound
// by latency. When files of a directory are opened in listing order (each a
// little after the last), the next files are fetched ahead, in parallel —
// whole when small, their first block (the header a viewer scans first) when
// big. How many is PrefetchPolicy's call, from what prefetching has been
// worth; the reader's budget keeps it inside --cache-size.
//
// Walking a tree (find, du, cp -r of a study) is the same pattern one level
// up: when sibling directories are listed in order, the next ones are
// listed ahead.
import type { Entry, Namespace } from "../namespace/namespace.js";
import type { Logger } from "../util/log.js";
import type { ObjectReader, ReadTarget } from "./object-reader.js";
import { SequenceDetector, type PrefetchPolicy } from "./prefetch-policy.js";

/** How far ahead in listing order the next open may be and still count as in order. */
const MAX_SKIP = 4;
/** Sibling directories listed ahead of a tree walk. */
const DIRS_AHEAD = 8;
/**
 * A directory with at most this many sub-directories gets them listed as soon
 * as it is listed itself: a few requests that make `cd`, `ls -R` and `find`
 * one round trip per level instead of one per directory. Wider directories
 * (an Imaging Data Commons bucket root has thousands) wait for a walk.
 */
const SMALL_FANOUT = 16;

interface Ordered {
  names: string[];
  index: Map<string, number>;
}

function split(path: string): [string, string] {
  const i = path.lastIndexOf("/");
  return [i <= 0 ? "/" : path.slice(0, i), path.slice(i + 1)];
}

export class SeriesPrefetcher {
  private readonly files = new SequenceDetector(MAX_SKIP);
  private readonly dirs = new SequenceDetector(MAX_SKIP);
  /** Listing order per listing (a new listing object after the TTL gets a new order). */
  private readonly orders = new WeakMap<Map<string, Entry>, Ordered>();

  constructor(private readonly ns: Namespace, private readonly reader: ObjectReader, private readonly policy: PrefetchPolicy, private readonly log: Logger) {}

  private order(listing: Map<string, Entry>): Ordered {
    let o = this.orders.get(listing);
    if (!o) {
      const names = [...listing.keys()];
      o = { names, index: new Map(names.map((n, i) => [n, i])) };
      this.orders.set(listing, o);
    }
    return o;
  }

  /** A file was opened. Never throws; prefetching is best effort. */
  async opened(path: string): Promise<void> {
    try {
      const [dir, name] = split(path);
      const listing = await this.ns.readdir(dir); // cached: the open just looked the file up
      const { names, index } = this.order(listing);
      const i = index.get(name);
      if (i === undefined || this.files.observe(dir, i) === 0) return;
      const depth = this.policy.depth();
      let queued = 0;
      for (let j = i + 1; j < names.length && queued < depth; j++) {
        const e = listing.get(names[j]!);
        if (e?.kind !== "file" || e.source.kind !== "object") continue;
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
      for (const [child, e] of listing) {
        if (e.kind !== "dir") continue;
        this.prefetchDir(`${path}/${child}`, levels - 1);
        if (++n >= DIRS_AHEAD) break;
      }
    }, () => undefined);
  }

  /** A directory was listed. Never throws. */
  async listed(path: string, children: Map<string, Entry>): Promise<void> {
    try {
      const dirs = [...children].filter(([, e]) => e.kind === "dir");
      if (dirs.length > 0 && dirs.length <= SMALL_FANOUT) {
        for (const [child] of dirs) this.prefetchDir(`${path === "/" ? "" : path}/${child}`, 0);
      }
      if (path === "/") return;
      const [parent, name] = split(path);
      const listing = await this.ns.readdir(parent);
      const { names, index } = this.order(listing);
      const i = index.get(name);
      if (i === undefined || this.dirs.observe(parent, i) === 0) return;
      let queued = 0;
      for (let j = i + 1; j < names.length && queued < DIRS_AHEAD; j++) {
        if (listing.get(names[j]!)?.kind !== "dir") continue;
        this.prefetchDir(`${parent === "/" ? "" : parent}/${names[j]}`, 1);
        queued++;
      }
    } catch (err) {
      this.log.debug(`directory prefetch after ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
