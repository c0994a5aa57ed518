// Assembles a mount from its parts: object store (with retries), namespace
// layout, block cache and reader, filesystem core, FUSE adapter. The CLI
// parses options into MountConfig; tests call this directly.
import { LruBlockCache } from "../cache/block-cache.js";
import { SomFilesystem } from "../fs/filesystem.js";
import { fuseOps } from "../fuse/adapter.js";
import { FuseMount, prepareMountpoint } from "../fuse/fuse-mount.js";
import { RawLayout, normalizePrefix } from "../namespace/raw-layout.js";
import { ObjectReader, defaultReaderOptions } from "../read/object-reader.js";
import { UnreachableError } from "../storage/errors.js";
import { GcsObjectStore } from "../storage/gcs/gcs-object-store.js";
import type { ObjectStore } from "../storage/object-store.js";
import { RetryingObjectStore, defaultRetryPolicy } from "../storage/retrying-object-store.js";
import { systemClock } from "../util/clock.js";
import type { Logger } from "../util/log.js";

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
}

/** Misses are kept briefly: long enough for a burst of probes, short enough for new uploads to show. */
const NEGATIVE_TTL_SECONDS = 5;

export class StartupError extends Error {}

export async function startMount(cfg: MountConfig, log: Logger, store?: ObjectStore): Promise<{ mount: FuseMount; fs: SomFilesystem }> {
  const mountpoint = await prepareMountpoint(cfg.mountpoint, log);
  const gcs = store ?? new GcsObjectStore({ bucket: cfg.bucket, anonymous: cfg.anonymous, ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}) });
  try {
    await gcs.checkBucket();
  } catch (err) {
    if (err instanceof UnreachableError) {
      throw new StartupError(`cannot reach the storage endpoint ${cfg.endpoint ?? "https://storage.googleapis.com"} (${err.message.replace(/^.*reason: /, "")})`, { cause: err });
    }
    throw err;
  }
  const retrying = new RetryingObjectStore(gcs, systemClock, log, defaultRetryPolicy);
  const ttlMs = cfg.metadataTtlSeconds * 1000;
  const layout = new RawLayout(retrying, {
    prefix: normalizePrefix(cfg.prefix), metadataTtlMs: ttlMs, negativeTtlMs: Math.min(ttlMs, NEGATIVE_TTL_SECONDS * 1000),
    clock: systemClock, log, mountTime: new Date(),
  });
  const reader = new ObjectReader(retrying, new LruBlockCache(cfg.cacheSize), defaultReaderOptions);
  const fs = new SomFilesystem(layout, reader, { uid: cfg.uid, gid: cfg.gid });
  const mount = await FuseMount.mount(mountpoint, fuseOps(fs, log), {
    metadataTtlSeconds: cfg.metadataTtlSeconds,
    negativeTtlSeconds: Math.min(cfg.metadataTtlSeconds, NEGATIVE_TTL_SECONDS),
    allowOther: cfg.allowOther,
    fsname: `som:${cfg.bucket}`,
    operationTimeoutMs: defaultRetryPolicy.deadlineMs + 15_000,
    debug: cfg.debug,
  }, log);
  return { mount, fs };
}
