// Metrics read from state the mount's parts keep anyway, when Prometheus
// scrapes: cache tiers, prefetch, background fill, open files, listings.
// Counters here mirror monotonic counts (set from them on each scrape);
// gauges read the present value.
import { Counter, Gauge, type Registry } from "prom-client";
import type { CacheCounts, PrefetchStats } from "../cache/block-cache.js";
import type { DiskCacheStats } from "../cache/disk/disk-cache.js";
import type { PassthroughStats } from "../fuse/passthrough.js";
import type { PinStats } from "../fuse/read-pins.js";
import type { ResidentStats } from "../fuse/resident-paths.js";
import type { ListingStats } from "../namespace/namespace.js";
import type { RecyclerStats } from "../read/page-recycler.js";
import type { PoolStats } from "../util/page-pool.js";
import type { MountMetrics } from "./metrics.js";

export interface MetricSources {
  memory: { readonly size: number; readonly capacity: number; readonly stats: PrefetchStats; readonly counts: CacheCounts };
  disk?: { readonly size: number; readonly capacity: number; readonly stats: DiskCacheStats };
  reader: { readonly stats: { fillBytes: number; diskHits: number } };
  openFiles: () => number;
  /** Reads the binding answered from pinned memory (they are not among the FUSE operations timed). */
  pins?: () => PinStats;
  resident?: () => ResidentStats;
  /** Opens answered with a disk-tier backing file (their reads never reach the daemon). */
  passthrough?: () => PassthroughStats;
  listings?: () => ListingStats;
  /** Response body pages: made, handed out again, and given back by the read path. */
  pages?: { pool: PoolStats; recycler?: RecyclerStats };
}

type Sample = [labels: Record<string, string>, value: number];

function mirror(registry: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of read()) this.inc(labels, v);
    },
  });
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  new Gauge({
    name, help, labelNames, registers: [registry],
    collect() {
      for (const [labels, v] of read()) this.set(labels, v);
    },
  });
}

export function registerSources(m: MountMetrics, s: MetricSources): void {
  const r = m.registry;
  const mem = s.memory;
  const disk = s.disk;
  const tiers = (memory: number, onDisk: () => number): Sample[] => [[{ tier: "memory" }, memory], ...(disk ? [[{ tier: "disk" }, onDisk()] as Sample] : [])];
  gauge(r, "som_cache_bytes", "Object bytes held by each cache tier", ["tier"], () => tiers(mem.size, () => disk!.size));
  gauge(r, "som_cache_capacity_bytes", "Most each cache tier holds (--cache-size less read-ahead room; --cache-dir-size)", ["tier"], () => tiers(mem.capacity, () => disk!.capacity));
  mirror(r, "som_cache_hits_total", "Blocks found in each cache tier", ["tier"], () => tiers(mem.counts.hits, () => disk!.stats.hits));
  mirror(r, "som_cache_misses_total", "Blocks looked for in each cache tier and not found (or found corrupt, on disk)", ["tier"], () => tiers(mem.counts.misses, () => disk!.stats.misses));
  mirror(r, "som_cache_evictions_total", "Blocks dropped from each cache tier to make room", ["tier"], () => tiers(mem.counts.evictions, () => disk!.stats.evicted));
  mirror(r, "som_cache_evicted_bytes_total", "Bytes dropped from the memory cache to make room", [], () => [[{}, mem.counts.evictedBytes]]);
  if (disk) {
    mirror(r, "som_disk_cache_corrupt_blocks_total", "Disk cache blocks that failed their checksum when read back (deleted and fetched again)", [], () => [[{}, disk.stats.corrupt]]);
    mirror(r, "som_disk_cache_written_bytes_total", "Bytes written to the disk cache", [], () => [[{}, disk.stats.writtenBytes]]);
    mirror(r, "som_disk_cache_checked_at_start_total", "Recently used disk cache files checked whole as the mount started, so a remount's first opens pass them through at once", [], () => [[{}, disk.stats.checkedAtStart]]);
    mirror(r, "som_disk_cache_check_waits_total", "Opens that waited for their disk cache file to be checked whole before the kernel could read it (passthrough)", [], () => [[{}, disk.stats.checkWaits]]);
    mirror(r, "som_disk_cache_skipped_blocks_total", "Blocks not written to the disk cache (write queue or disk full)", [], () => [[{}, disk.stats.skipped]]);
    mirror(r, "som_fill_bytes_total", "Bytes fetched by the background fill of files read at random", [], () => [[{}, s.reader.stats.fillBytes]]);
  }
  mirror(r, "som_prefetch_bytes_total", "Bytes fetched ahead of any reader (read-ahead, series and directory prefetch)", [], () => [[{}, mem.stats.prefetched]]);
  mirror(r, "som_prefetch_used_bytes_total", "Prefetched bytes a reader then read", [], () => [[{}, mem.stats.used]]);
  mirror(r, "som_prefetch_wasted_bytes_total", "Prefetched bytes evicted before anyone read them", [], () => [[{}, mem.stats.wasted]]);
  gauge(r, "som_open_files", "Files open through the mount", [], () => [[{}, s.openFiles()]]);
  const pins = s.pins;
  if (pins) {
    mirror(r, "som_fuse_pinned_reads_total", "FUSE reads answered by the binding from a file's bytes in memory, without JavaScript (not in som_fuse_operation_duration_seconds)", [], () => [[{}, pins().reads]]);
    mirror(r, "som_fuse_pinned_read_bytes_total", "Bytes of those reads", [], () => [[{}, pins().bytes]]);
    gauge(r, "som_fuse_pinned_files", "Open files whose reads the binding answers from memory", [], () => [[{}, pins().pinned]]);
  }
  const resident = s.resident;
  if (resident) {
    mirror(r, "som_fuse_native_opens_total", "Opens answered by the binding without JavaScript: from a file held whole in memory, or passed through to a checked disk-tier file (not in som_fuse_operation_duration_seconds)", [], () => [[{}, resident().opens]]);
    gauge(r, "som_fuse_resident_files", "Files whose opens the binding answers now", [], () => [[{}, resident().registered]]);
    gauge(r, "som_fuse_resident_held_bytes", "Bytes the memory cache dropped that files opened by the binding still hold", [], () => [[{}, resident().heldBytes]]);
  }
  const pt = s.passthrough;
  if (pt) {
    mirror(r, "som_fuse_passthrough_opens_total", "Opens answered with a disk-tier file the kernel reads itself (passthrough; their reads never reach the daemon)", [], () => [[{}, pt().opens]]);
    gauge(r, "som_fuse_passthrough_files", "Disk-tier files held as backing files now: of open files, and of files whose opens the binding answers (one per file, however many times it is open)", [], () => [[{}, pt().files]]);
  }
  const pages = s.pages;
  if (pages) {
    mirror(r, "som_body_pages_total", "256 KiB response body pages: made (fresh memory, as a read needed it), prefilled (touched as the mount started, --prealloc) or reused (handed out again from the free list: given back by the read path or prefilled, already in memory)", ["how"],
      () => [[{ how: "made" }, pages.pool.made], [{ how: "prefilled" }, pages.pool.prefilled], [{ how: "reused" }, pages.pool.reused]]);
    const rec = pages.recycler;
    if (rec) mirror(r, "som_body_pages_recycled_total", "Pages the memory cache dropped whose memory went back for reuse", [], () => [[{}, rec.recycled]]);
  }
  const listings = s.listings;
  if (listings) {
    mirror(r, "som_listings_total", "Directory listings made (each may send many list requests)", [], () => [[{}, listings().listings]]);
    mirror(r, "som_listed_entries_total", "Entries of completed listings (divided by som_listings_total: the mean directory size)", [], () => [[{}, listings().listed]]);
    mirror(r, "som_listing_evictions_total", "Listings dropped to stay within --listing-cache-entries", [], () => [[{}, listings().evicted]]);
    gauge(r, "som_listing_cache_entries", "Directory entries held in listing caches", [], () => [[{}, listings().cached]]);
  }
}
