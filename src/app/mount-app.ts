// Assembles a mount from its parts: object store (with retries), namespace
// layout, block cache and reader, filesystem core, FUSE adapter. The CLI
// parses options into MountConfig; tests call this directly.
import { stat } from "node:fs/promises";
import { LruBlockCache } from "../cache/block-cache.js";
import { SomFilesystem } from "../fs/filesystem.js";
import { defaultAdapterOptions, fuseOps } from "../fuse/adapter.js";
import { Passthrough } from "../fuse/passthrough.js";
import { ReadPins } from "../fuse/read-pins.js";
import { ResidentPaths } from "../fuse/resident-paths.js";
import { FuseMount, prepareMountpoint } from "../fuse/fuse-mount.js";
import { DatastoreMetadata } from "../metadata/datastore/datastore-metadata.js";
import type { Namespace } from "../namespace/namespace.js";
import { RawLayout, normalizePrefix } from "../namespace/raw-layout.js";
import { SomLayout, detectLayout } from "../namespace/som-layout.js";
import { DiskCache, defaultDiskOptions } from "../cache/disk/disk-cache.js";
import { DirLockedError } from "../cache/disk/dir-lock.js";
import { ObjectReader, defaultFillOptions, defaultReaderOptions } from "../read/object-reader.js";
import { PageRecycler } from "../read/page-recycler.js";
import { PrefetchPolicy } from "../read/prefetch-policy.js";
import { SeriesPrefetcher } from "../read/series-prefetcher.js";
import { loadListings, saveListings } from "../listing/listing-snapshot.js";
import { StorageError, UnreachableError } from "../storage/errors.js";
import { GOOGLE_ENDPOINT, GcsObjectStore } from "../storage/gcs/gcs-object-store.js";
import type { ObjectStore, ObjectStreamer } from "../storage/object-store.js";
import { RetryingObjectStore, RetryingStreamer } from "../storage/retrying-object-store.js";
import { retryPolicy } from "../util/retry.js";
import { systemClock } from "../util/clock.js";
import { GARBAGE_ALLOWANCE } from "../util/memory.js";
import { bodyPagePool } from "../util/http1/body-pages.js";
import type { Logger } from "../util/log.js";
import type { MetadataSource } from "../metadata/metadata-store.js";
import { MeteredMetadata } from "../metrics/metered-metadata.js";
import { MeteredObjectStore } from "../metrics/metered-object-store.js";
import { MountMetrics } from "../metrics/metrics.js";
import { serveMetrics, type MetricsServer } from "../metrics/server.js";
import { snapshot } from "../metrics/snapshot.js";
import { registerSources } from "../metrics/sources.js";
import { serveStatus } from "../status/status-socket.js";
import { ThrottledObjectStore } from "../storage/throttled-object-store.js";
import { VERSION } from "../version.js";

export interface MountConfig {
  bucket: string;
  mountpoint: string;
  endpoint?: string;
  anonymous: boolean;
  prefix?: string;
  cacheSize: number;
  metadataTtlSeconds: number;
  uid: number;
  gid: number;
  allowOther: boolean;
  debug: boolean;
  /** auto: som when the tree has a top-level Collection/ prefix. */
  layout: "auto" | "som" | "raw";
  /** Datastore project for sidecars (som layout); none = no sidecars. */
  project?: string;
  /** Read-ahead and series/directory prefetch (off: fetch only what is read). */
  prefetch: boolean;
  /** List requests in flight at once. */
  listConcurrency: number;
  /** Directory entries kept in listing caches. */
  listingCacheEntries: number;
  /** A disk tier for object bytes, and its size. */
  cacheDir?: string;
  cacheDirSize: number;
  /** Permission bits shown for files and directories. */
  fileMode: number;
  dirMode: number;
  /** Project billed for requests (requester-pays buckets). */
  billingProject?: string;
  /** Prometheus endpoint: port (0 = any free one) and address; none = off. */
  metricsPort?: number;
  metricsAddress: string;
  /** Shared-link limits on what the mount asks of Cloud Storage. */
  limitBytesPerSec?: number;
  limitOpsPerSec?: number;
  /**
   * Memory for response bodies touched as the mount starts and kept for
   * reuse (--prealloc); auto: what one sequential reader's read-ahead holds,
   * without a disk tier; 0: none.
   */
  prealloc: number | "auto";
}

/**
 * How the mount talks to Datastore: each request may take 5 s; a listing
 * waits for its records only while they make progress (a page at least every
 * 5 s), else it is shown without sidecars and the query goes on behind it; a
 * query that fails for good keeps listings from asking again for 10 s.
 */
const METADATA_RPC_TIMEOUT_MS = 5_000;
const SIDECAR_PATIENCE_MS = 5_000;
const METADATA_OUTAGE_BACKOFF_MS = 10_000;

/** Misses are kept briefly: long enough for a burst of probes, short enough for new uploads to show. */
const NEGATIVE_TTL_SECONDS = 5;
/**
 * Bytes of open files whose reads the binding answers from memory, at most
 * (see fuse/read-pins.ts): the cache's own Buffers, held past an eviction
 * only while a file stays open, so this is all they can add to RSS.
 */
const PINNED_BYTES = 64 * 2 ** 20;

/**
 * With passthrough, the disk tier's most recently used small objects are
 * checked as the mount starts, behind any reader: at most half the checked
 * files it keeps open (1,024), and 256 MiB of reads (a second or so of a
 * local disk, on the checker's thread). A series re-read after a remount
 * then finds its files checked rather than waiting on each one's check.
 */
const RECHECK_FILES = 512;
const RECHECK_BYTES = 256 * 2 ** 20;

/**
 * How far ahead of one sequential reader read-ahead reaches at most (or half
 * the cache): 16 runs of 8 MiB in flight, ~800 MiB/s at 64 MiB/s and 30 ms
 * per stream. Its memory is first touched as the bytes land when nothing is
 * there to reuse. By hand, a fresh mount's cold cat of 512 MiB (5 rounds):
 * 0.91 s with 128 (and 136 MiB prefilled) and 0.98 s with 176 (304 MiB)
 * against curl's 0.84 s; 1.38 s with 64 against 1.05-1.09 s with 96-176.
 */
const READ_AHEAD_MAX = 128 * 2 ** 20;

/** Directory entries written for the next mount at most (~60 bytes each in the file; the most recently used listings first). */
const KEPT_LISTING_ENTRIES = 200_000;

export class StartupError extends Error {}

/**
 * What --prealloc comes to. A fresh daemon's first read-ahead is otherwise all
 * first touches of memory (~1.8 us per 4 KiB here, many times that on a VM
 * whose host took free memory back after an idle spell): a cold cat of
 * 512 MiB cost the daemon 55k faults. auto is the memory a sequential
 * reader holds at full speed (its read-ahead window, and the pages it has
 * not left behind yet), and none with a disk tier, whose pages are not
 * read into again. Never more than the memory cache holds: pages on the
 * free list and blocks in the cache share its capacity (util/page-pool.ts).
 */
export function preallocBytes(asked: number | "auto", diskTier: boolean, readAhead: number, capacity: number): number {
  const want = asked === "auto" ? (diskTier ? 0 : readAhead) : asked;
  return Math.max(0, Math.min(want, capacity));
}

async function chooseLayout(cfg: MountConfig, store: ObjectStore, log: Logger, metrics: MountMetrics): Promise<{ layout: Namespace; kind: "som" | "raw" }> {
  const ttlMs = cfg.metadataTtlSeconds * 1000;
  const base = {
    prefix: normalizePrefix(cfg.prefix), metadataTtlMs: ttlMs, negativeTtlMs: Math.min(ttlMs, NEGATIVE_TTL_SECONDS * 1000),
    clock: systemClock, log, mountTime: new Date(),
    listing: { concurrency: cfg.listConcurrency, entryBudget: cfg.listingCacheEntries },
  };
  const where = `gs://${cfg.bucket}/${base.prefix}`;
  let kind = cfg.layout;
  if (kind === "auto") {
    kind = await detectLayout(store, base.prefix);
    log.info(kind === "som" ? `layout: som (found ${where}Collection/)` : `layout: raw (no ${where}Collection/)`);
  }
  if (kind === "raw") {
    if (cfg.project) log.info("--project is only used by the som layout; no sidecars in the raw layout");
    return { layout: new RawLayout(store, base), kind };
  }
  let metadata: MetadataSource | undefined;
  if (cfg.project) {
    metadata = new MeteredMetadata(new DatastoreMetadata({
      project: cfg.project, rpcTimeoutMs: METADATA_RPC_TIMEOUT_MS, clock: systemClock, log,
    }), metrics);
    log.info(`sidecars from Datastore project ${cfg.project}${process.env.DATASTORE_EMULATOR_HOST ? ` (emulator ${process.env.DATASTORE_EMULATOR_HOST})` : ""}`);
  } else {
    log.info("no Datastore project (--project, $GOOGLE_CLOUD_PROJECT or $DATASTORE_PROJECT_ID): the som tree is shown without sidecars");
  }
  return {
    layout: new SomLayout(store, {
      ...base, ...(metadata ? { metadata } : {}), outageBackoffMs: METADATA_OUTAGE_BACKOFF_MS, sidecarPatienceMs: SIDECAR_PATIENCE_MS, seedCollections: cfg.prefetch,
    }),
    kind,
  };
}

export interface RunningMount {
  mount: FuseMount;
  fs: SomFilesystem;
  reader: ObjectReader;
  metrics: MountMetrics;
  /** Where Prometheus scrapes, with --metrics-port. */
  metricsUrl?: string;
  /** The unix socket `som status` asks. */
  statusSocket?: string;
  close(): Promise<void>;
}

export async function startMount(cfg: MountConfig, log: Logger, store?: ObjectStore & ObjectStreamer): Promise<RunningMount> {
  const mountpoint = await prepareMountpoint(cfg.mountpoint, log);
  // The disk tier first: a directory another daemon holds is refused before anything else happens.
  const diskQueue = cfg.cacheDir ? Math.min(defaultDiskOptions.queueBytes, Math.floor(cfg.cacheSize / 8)) : 0;
  const disk = cfg.cacheDir ? await openDiskCache(cfg.cacheDir, cfg.cacheDirSize, diskQueue, log) : undefined;
  const plan = memoryPlan(cfg, diskQueue);
  const prefill = startPrefill(cfg, !!disk, plan, log);
  try {
    return await startWith(cfg, log, mountpoint, disk, plan, prefill, store);
  } catch (err) {
    prefill.stop();
    await disk?.close();
    throw err;
  }
}

/** How --cache-size is shared out (see startMount), and how far one reader's read-ahead reaches. */
interface MemoryPlan {
  cache: LruBlockCache;
  /** Prefetch bytes downloading at once. */
  inFlight: number;
  /** Prefetched bytes nobody has read yet, at most. */
  budget: number;
  readAhead: { initial: number; max: number; slack: number; chunk: number; afterJump: number };
}

function memoryPlan(cfg: MountConfig, diskQueue: number): MemoryPlan {
  // --cache-size bounds all object bytes the daemon holds: the memory cache,
  // plus prefetches downloading (at most a quarter of it, and 128 MiB), plus
  // dead bytes waiting for the next garbage collection (util/memory.ts), plus
  // with a disk tier its write queue (an eighth, at most 32 MiB). The
  // background fill streams to disk and holds ~1 MiB per request. Under
  // --limit-bytes-per-sec, prefetches in flight are held to ~2 s of the rate
  // so a reader's own request never queues behind minutes of read-ahead.
  let inFlight = Math.min(defaultReaderOptions.prefetchInFlightBytes, Math.floor(cfg.cacheSize / 4));
  if (cfg.limitBytesPerSec) inFlight = Math.max(defaultReaderOptions.maxRequest, Math.min(inFlight, 2 * cfg.limitBytesPerSec));
  const cache = new LruBlockCache(Math.max(Math.floor(cfg.cacheSize / 4), cfg.cacheSize - inFlight - GARBAGE_ALLOWANCE - diskQueue));
  // Prefetching may fill half the cache with bytes nobody has read yet; the
  // other half keeps what readers are using.
  const budget = Math.floor(cache.capacity / 2);
  // The slack is twice the kernel read-ahead (max_readahead, 2 MiB): libfuse 3's threads hand us one
  // reader's requests out of order, up to two windows apart (with 2 MiB, a sequential reader was seen
  // as jumping: its window reset, and a background fill started for it). After a jump, 4 MiB in order:
  // more than the kernel's read-ahead makes of one tile read (see FilesystemOptions).
  const readAhead = { initial: Math.min(8 * 2 ** 20, budget), max: Math.min(READ_AHEAD_MAX, budget), slack: 4 * 2 ** 20, chunk: defaultReaderOptions.maxRequest, afterJump: 4 * 2 ** 20 };
  return { cache, inFlight, budget, readAhead };
}

/**
 * Touches the first reader's memory (--prealloc) while the mount's start
 * waits on the network, a few pages per turn of the event loop. libfuse
 * forks /bin/mount as it mounts: a page touched before then takes one
 * write fault after it, without a copy (the child execs at once), instead
 * of a first touch. stop() ends it (the mount failed or is closing).
 * The cache grows only by set(), so trimming the free list there is enough.
 */
function startPrefill(cfg: MountConfig, diskTier: boolean, plan: MemoryPlan, log: Logger): { stop(): void } {
  let stopped = false;
  // With --no-prefetch there is no read-ahead to hold memory for.
  const readAhead = cfg.prefetch ? plan.readAhead.max + 2 * plan.readAhead.slack : 0;
  const bytes = preallocBytes(cfg.prealloc, diskTier, readAhead, plan.cache.capacity);
  if (bytes > 0) {
    // The cache's room is what the reserved free list may hold: it gives pages up as the cache grows.
    plan.cache.onGrow = () => bodyPagePool.trim();
    const began = performance.now();
    void bodyPagePool.reserve(bytes, () => plan.cache.capacity - plan.cache.size, () => stopped).then((n) => {
      if (n > 0) log.info(`${Math.round(n / 2 ** 20)} MiB of memory ready for read-ahead (--prealloc), touched in ${Math.round(performance.now() - began)} ms`);
    });
  }
  return { stop: () => void (stopped = true) };
}

async function openDiskCache(dir: string, maxBytes: number, queueBytes: number, log: Logger): Promise<DiskCache> {
  const st = await stat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new StartupError(`--cache-dir ${dir} is not a directory`);
  try {
    return await DiskCache.open({ ...defaultDiskOptions, dir, maxBytes, queueBytes, log });
  } catch (err) {
    if (err instanceof DirLockedError) throw err;
    throw new StartupError(`cannot use --cache-dir ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Listings kept across remounts beside the disk tier (listing/listing-snapshot.ts): those saved are taken on now. */
async function keptListings(disk: DiskCache, cfg: MountConfig, layout: Namespace, log: Logger): Promise<{ save(): Promise<void> } | undefined> {
  if (!layout.savedListings || !layout.restoreListings) return undefined;
  const file = disk.statePath("listings.json");
  const source = { endpoint: cfg.endpoint ?? GOOGLE_ENDPOINT, bucket: cfg.bucket };
  try {
    const took = layout.restoreListings(await loadListings(file, source));
    if (took > 0) log.info(`${took} listings kept from the last mount, trusted until ${cfg.metadataTtlSeconds} s after they were fetched`);
  } catch (err) {
    log.warn(`listings kept from the last mount not used (${err instanceof Error ? err.message : String(err)})`);
  }
  return {
    save: () => saveListings(file, source, layout.savedListings!(KEPT_LISTING_ENTRIES)).catch((err: unknown) => {
      log.warn(`keeping listings for the next mount: ${err instanceof Error ? err.message : String(err)}`);
    }),
  };
}

async function startWith(cfg: MountConfig, log: Logger, mountpoint: string, disk: DiskCache | undefined, plan: MemoryPlan, prefill: { stop(): void },
  store?: ObjectStore & ObjectStreamer): Promise<RunningMount> {
  const { cache, inFlight, budget, readAhead } = plan;
  const real = store ?? new GcsObjectStore({
    bucket: cfg.bucket, anonymous: cfg.anonymous, ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}), ...(cfg.billingProject ? { userProject: cfg.billingProject } : {}),
  });
  const metrics = new MountMetrics({ bucket: cfg.bucket, prefix: normalizePrefix(cfg.prefix), layout: cfg.layout, version: VERSION });
  // Bottom up: the real store, what counts each request, the shared-link
  // limits (each attempt waits its turn), the retries.
  const metered = new MeteredObjectStore(real, metrics, log);
  const limited = cfg.limitBytesPerSec || cfg.limitOpsPerSec
    ? new ThrottledObjectStore(metered, { ...(cfg.limitBytesPerSec ? { bytesPerSec: cfg.limitBytesPerSec } : {}), ...(cfg.limitOpsPerSec ? { opsPerSec: cfg.limitOpsPerSec } : {}) },
      systemClock, (limit, ms) => metrics.throttledSeconds.inc({ limit }, ms / 1000))
    : metered;
  const onRetry = (kind: string): void => metrics.gcsRetries.inc({ kind });
  const retrying = new RetryingObjectStore(limited, systemClock, log, undefined, Math.random, onRetry);
  try {
    await retrying.checkBucket();
  } catch (err) {
    if (err instanceof UnreachableError) {
      throw new StartupError(`cannot reach the storage endpoint ${cfg.endpoint ?? "https://storage.googleapis.com"} (${err.message.replace(/^.*reason: /, "")})`, { cause: err });
    }
    if (err instanceof StorageError && err.status === 400 && /requester pays/i.test(err.message) && !cfg.billingProject) {
      throw new StartupError(`bucket "${cfg.bucket}" is requester pays: give --billing-project PROJECT, the project to bill for its requests`, { cause: err });
    }
    throw err;
  }
  const { layout, kind } = await chooseLayout(cfg, retrying, log, metrics);
  metrics.setLayout(kind);
  const kept = disk && await keptListings(disk, cfg, layout, log);
  // Only the disk tier has files to pass through (see fuse/passthrough.ts).
  const passthrough = disk ? new Passthrough(log) : undefined;
  const tier = disk && {
    cache: disk,
    backs: () => passthrough!.active(),
    streamer: new RetryingStreamer(limited, systemClock, log, undefined, onRetry),
    fill: { ...defaultFillOptions, maxObjectBytes: Math.min(defaultFillOptions.maxObjectBytes, Math.floor(cfg.cacheDirSize / 2)) },
  };
  // Runs of pages (read-ahead) are streamed, each page handed out as it arrives.
  const pages = new RetryingStreamer(limited, systemClock, log, undefined, onRetry, "read");
  // Without a disk tier, pages of streamed runs the cache drops are read into again (not fresh
  // memory). Those waiting on a slow read, and the pool's free list, stay within the garbage
  // allowance they stand in for (16 MiB each).
  const recycler = tier ? undefined : new PageRecycler(bodyPagePool, GARBAGE_ALLOWANCE / 2);
  const reader = new ObjectReader(retrying, cache, { ...defaultReaderOptions, prefetchBudget: budget, prefetchInFlightBytes: inFlight }, log, tier, pages, recycler);
  const policy = new PrefetchPolicy(cache.stats, systemClock, { initialDepth: 64, maxDepth: 128, judgeEveryBytes: 16 * 2 ** 20, probeAfterMs: 30_000 });
  const series = new SeriesPrefetcher(layout, reader, policy, log);
  const fsOpts = { uid: cfg.uid, gid: cfg.gid, fileMode: cfg.fileMode, dirMode: cfg.dirMode, readAhead, randomAfter: 2 };
  const fs = cfg.prefetch
    ? new SomFilesystem(layout, reader, fsOpts, series)
    : new SomFilesystem(layout, reader, { ...fsOpts, readAhead: { ...readAhead, initial: 0, max: 0 } });
  const pins = new ReadPins(PINNED_BYTES);
  // Small objects the series prefetcher fetched: their opens are answered by the binding (fuse/resident-paths.ts).
  const resident = new ResidentPaths(PINNED_BYTES, fs);
  cache.onDrop = (key) => resident.dropped(key);
  fs.whenReplaced = (path) => resident.withdraw(path);
  // With passthrough, from the disk tier's checked file (the binding answers the open with its
  // backing id): the kernel fails an ordinary open of a file another handle passes through.
  series.wholeInSeries = (path, t, freshForMs) => {
    const freshUntil = Date.now() + freshForMs; // the listing's, not counted again from when the bytes land
    if (passthrough?.active() && resident.isBacked(path)) return; // each open tells of its own file again
    const registered = passthrough?.active()
      ? reader.prepareBacking(t, false).then((ok) => {
        const fd = ok ? reader.backingFd(t, false) : undefined;
        return fd !== undefined && resident.offerBacked(path, fd, t.size, freshUntil - Date.now());
      })
      : reader.landed(t).then((got) => got !== undefined && resident.offer(path, got.key, got.parts, freshUntil - Date.now()));
    registered.catch((err: unknown) => log.debug(`registering ${path} with the binding: ${err instanceof Error ? err.message : String(err)}`));
  };
  registerSources(metrics, {
    memory: cache, ...(disk ? { disk } : {}), reader, openFiles: () => fs.openFiles, pins: () => pins.stats(), resident: () => resident.stats(),
    ...(passthrough ? { passthrough: () => passthrough.stats() } : {}),
    ...(layout.listingStats ? { listings: () => layout.listingStats!() } : {}),
    pages: { pool: bodyPagePool.stats, ...(recycler ? { recycler: recycler.stats } : {}) },
  });
  // An operation gets the retry deadline plus room for a last attempt before it answers EIO.
  const ops = fuseOps(fs, log, { ...defaultAdapterOptions, deadlineMs: retryPolicy.deadlineMs + 15_000 }, (op, seconds, errno) => metrics.observeOp(op, seconds, errno),
    pins, passthrough);
  const mount = await FuseMount.mount(mountpoint, ops, {
    metadataTtlSeconds: cfg.metadataTtlSeconds,
    negativeTtlSeconds: Math.min(cfg.metadataTtlSeconds, NEGATIVE_TTL_SECONDS),
    allowOther: cfg.allowOther,
    fsname: `som:${cfg.bucket}`,
    debug: cfg.debug,
  }, log, pins, passthrough, resident);
  if (passthrough?.active()) {
    // A remount's re-reads pass through files checked by then (see ObjectReader.checkRecentOnDisk).
    const began = performance.now();
    void reader.checkRecentOnDisk(RECHECK_FILES, RECHECK_BYTES).then(
      (n) => n > 0 && log.info(`disk cache: ${n} recently used files checked for passthrough (${Math.round(performance.now() - began)} ms)`),
      (err: unknown) => log.warn(`disk cache: checking recently used files: ${err instanceof Error ? err.message : String(err)}`),
    );
  }
  const endpoints = await serveEndpoints(cfg, metrics, mountpoint, log).catch((err: unknown) => {
    mount.unmount();
    throw err;
  });
  // Called on the way out: the endpoints stop, blocks the disk tier had no room for yet are
  // written, the tier finishes its writes and records a clean shutdown.
  const close = async (): Promise<void> => {
    prefill.stop();
    await endpoints.close();
    resident.detach();
    await kept?.save();
    await reader.flushToDisk().catch((err: unknown) => log.warn(`writing the last blocks to the disk cache: ${err instanceof Error ? err.message : String(err)}`));
    await disk?.close().catch((err: unknown) => log.warn(`closing the disk cache: ${err instanceof Error ? err.message : String(err)}`));
  };
  return {
    mount, fs, reader, metrics, close,
    ...(endpoints.metricsUrl ? { metricsUrl: endpoints.metricsUrl } : {}),
    ...(endpoints.statusSocket ? { statusSocket: endpoints.statusSocket } : {}),
  };
}

/**
 * The Prometheus endpoint (with --metrics-port; a port in use fails the
 * mount) and the status socket (always; a runtime directory that can't be
 * used costs only `som status`, with a warning).
 */
async function serveEndpoints(cfg: MountConfig, metrics: MountMetrics, mountpoint: string, log: Logger): Promise<{ metricsUrl?: string; statusSocket?: string; close(): Promise<void> }> {
  let server: MetricsServer | undefined;
  if (cfg.metricsPort !== undefined) {
    try {
      server = await serveMetrics(metrics, cfg.metricsAddress, cfg.metricsPort);
    } catch (err) {
      throw new StartupError(`cannot serve metrics on ${cfg.metricsAddress}:${cfg.metricsPort}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    log.info(`metrics at ${server.url}`);
  }
  const url = server?.url;
  const socket = await serveStatus(() => snapshot(metrics, mountpoint, url)).catch((err: unknown) => {
    log.warn(`som status will not see this mount: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  });
  return {
    ...(url ? { metricsUrl: url } : {}),
    ...(socket ? { statusSocket: socket.path } : {}),
    close: async () => {
      await socket?.close();
      await server?.close();
    },
  };
}
