// Every metric a mount exports, defined in one place and registered on one
// prom-client registry per mount (not the global one: tests run several).
//
// Two kinds of feed. Events are observed as they happen by the wrappers in
// this directory (object store, metadata source) and by the FUSE adapter's
// single answer path (observeOp). State the parts already keep — cache
// sizes, hit counts, prefetch use, open files, listing sizes — is read when
// Prometheus scrapes (sources.ts), so the hot paths carry no extra counting.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { ERRNO } from "../fuse/errno.js";

/** Latency buckets from a cache hit (~50 µs) to a slow remote call (~30 s). */
const SECONDS_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const ERRNO_NAMES = new Map<number, string>(Object.entries(ERRNO).map(([name, n]) => [n, name]));

/** "ENOENT" for -2; "E<n>" for one som never answers. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${-errno}`;
}

export interface MountInfo {
  bucket: string;
  prefix: string;
  layout: string;
  version: string;
}

export class MountMetrics {
  readonly registry = new Registry();
  readonly started = Date.now();

  readonly fuseOps: Histogram<"op">;
  readonly fuseErrors: Counter<"op" | "errno">;
  readonly gcsRequests: Counter<"kind" | "status">;
  readonly gcsSeconds: Histogram<"kind">;
  readonly gcsBytes: Counter<"kind">;
  readonly gcsRetries: Counter<"kind">;
  readonly datastoreQueries: Counter<"status">;
  readonly datastoreSeconds: Histogram;
  readonly datastoreRecords: Counter;
  readonly datastoreRetries: Counter;
  readonly throttledSeconds: Counter<"limit">;

  private readonly infoGauge: Gauge<keyof MountInfo>;

  constructor(readonly info: MountInfo) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.infoGauge = new Gauge({
      name: "som_mount_info", help: "The mount: bucket, prefix, layout and som version (value 1)",
      labelNames: ["bucket", "prefix", "layout", "version"], registers,
    });
    this.infoGauge.set({ ...info }, 1);
    new Gauge({ name: "som_mount_start_time_seconds", help: "When the mount started, seconds since the epoch", registers }).set(this.started / 1000);

    this.fuseOps = new Histogram({
      name: "som_fuse_operation_duration_seconds", help: "FUSE operations answered, by operation: time from the kernel's request to the answer",
      labelNames: ["op"], buckets: SECONDS_BUCKETS, registers,
    });
    this.fuseErrors = new Counter({
      name: "som_fuse_errors_total", help: "FUSE operations answered with an error, by operation and errno",
      labelNames: ["op", "errno"], registers,
    });
    this.gcsRequests = new Counter({
      name: "som_gcs_requests_total", help: "Requests sent to Cloud Storage, each attempt counted, by kind and outcome (ok, an HTTP status, or network)",
      labelNames: ["kind", "status"], registers,
    });
    this.gcsSeconds = new Histogram({
      name: "som_gcs_request_duration_seconds", help: "Cloud Storage request time, each attempt, to the last byte",
      labelNames: ["kind"], buckets: SECONDS_BUCKETS, registers,
    });
    this.gcsBytes = new Counter({ name: "som_gcs_received_bytes_total", help: "Object bytes received from Cloud Storage, by kind", labelNames: ["kind"], registers });
    this.gcsRetries = new Counter({ name: "som_gcs_retries_total", help: "Cloud Storage calls tried again after a transient failure, by kind", labelNames: ["kind"], registers });
    this.datastoreQueries = new Counter({ name: "som_datastore_queries_total", help: "Datastore queries for sidecar records, by outcome", labelNames: ["status"], registers });
    this.datastoreSeconds = new Histogram({ name: "som_datastore_query_duration_seconds", help: "Datastore query time, all pages", buckets: SECONDS_BUCKETS, registers });
    this.datastoreRecords = new Counter({ name: "som_datastore_records_total", help: "Records returned by Datastore queries", registers });
    this.datastoreRetries = new Counter({ name: "som_datastore_retries_total", help: "Datastore requests tried again after a transient failure", registers });
    this.throttledSeconds = new Counter({
      name: "som_throttled_seconds_total", help: "Time requests waited for --limit-bytes-per-sec or --limit-ops-per-sec, by limit",
      labelNames: ["limit"], registers,
    });
  }

  /** The layout, once chosen (auto becomes som or raw). */
  setLayout(layout: string): void {
    this.info.layout = layout;
    this.infoGauge.reset();
    this.infoGauge.set({ ...this.info }, 1);
  }

  /** The adapter's answer path: one call per FUSE operation answered. */
  observeOp(op: string, seconds: number, errno: number): void {
    this.fuseOps.observe({ op }, seconds);
    if (errno < 0) this.fuseErrors.inc({ op, errno: errnoName(errno) });
  }

  /** The exposition text for a scrape. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
