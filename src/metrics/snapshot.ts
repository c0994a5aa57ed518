// What `som status` shows of one mount, computed from the same registry
// Prometheus scrapes, so the two never disagree.
import type { MountMetrics } from "./metrics.js";

export interface TierStatus {
  bytes: number;
  capacity: number;
  hits: number;
  misses: number;
  /** hits / (hits + misses), or null before any lookup. */
  hitRate: number | null;
}

export interface MountStatus {
  pid: number;
  mountpoint: string;
  bucket: string;
  prefix: string;
  layout: string;
  version: string;
  startedAt: string;
  uptimeSeconds: number;
  openFiles: number;
  cache: { memory: TierStatus; disk?: TierStatus };
  gcs: { requests: number; byKind: Record<string, number>; errors: number; retries: number; receivedBytes: number };
  datastore: { queries: number; errors: number };
  fuse: { operations: number; errors: number };
  /** Prefetched bytes, those read, those evicted unread; efficiency = used / (used + wasted). */
  prefetch: { bytes: number; used: number; wasted: number; efficiency: number | null };
  metricsUrl?: string;
}

type Values = { value: number; labels: Record<string, string | number>; metricName?: string }[];

export async function snapshot(m: MountMetrics, mountpoint: string, metricsUrl?: string): Promise<MountStatus> {
  const all = new Map<string, Values>();
  for (const metric of await m.registry.getMetricsAsJSON()) all.set(metric.name, metric.values as Values);
  const sum = (name: string, keep: (labels: Record<string, string | number>) => boolean = () => true, part?: string): number =>
    (all.get(name) ?? []).filter((v) => (part === undefined || v.metricName === part) && keep(v.labels)).reduce((a, v) => a + v.value, 0);
  const tier = (t: string): TierStatus => {
    const is = (l: Record<string, string | number>): boolean => l.tier === t;
    const hits = sum("som_cache_hits_total", is);
    const misses = sum("som_cache_misses_total", is);
    return { bytes: sum("som_cache_bytes", is), capacity: sum("som_cache_capacity_bytes", is), hits, misses, hitRate: hits + misses > 0 ? hits / (hits + misses) : null };
  };
  const byKind: Record<string, number> = {};
  for (const v of all.get("som_gcs_requests_total") ?? []) byKind[String(v.labels.kind)] = (byKind[String(v.labels.kind)] ?? 0) + v.value;
  const hasDisk = (all.get("som_cache_bytes") ?? []).some((v) => v.labels.tier === "disk");
  const used = sum("som_prefetch_used_bytes_total");
  const wasted = sum("som_prefetch_wasted_bytes_total");
  const uptime = (Date.now() - m.started) / 1000;
  return {
    pid: process.pid,
    mountpoint,
    ...m.info,
    startedAt: new Date(m.started).toISOString(),
    uptimeSeconds: Math.round(uptime),
    openFiles: sum("som_open_files"),
    cache: { memory: tier("memory"), ...(hasDisk ? { disk: tier("disk") } : {}) },
    gcs: {
      requests: sum("som_gcs_requests_total"),
      byKind,
      errors: sum("som_gcs_requests_total", (l) => l.status !== "ok" && l.status !== "404"),
      retries: sum("som_gcs_retries_total"),
      receivedBytes: sum("som_gcs_received_bytes_total"),
    },
    datastore: { queries: sum("som_datastore_queries_total"), errors: sum("som_datastore_queries_total", (l) => l.status !== "ok") },
    fuse: { operations: sum("som_fuse_operation_duration_seconds", () => true, "som_fuse_operation_duration_seconds_count"), errors: sum("som_fuse_errors_total", (l) => l.errno !== "ENOENT") },
    prefetch: { bytes: sum("som_prefetch_bytes_total"), used, wasted, efficiency: used + wasted > 0 ? used / (used + wasted) : null },
    ...(metricsUrl ? { metricsUrl } : {}),
  };
}
