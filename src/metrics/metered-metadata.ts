// A MetadataSource that counts its queries: outcome, time over all pages,
// records returned, and attempts retried (heard through QueryProgress).
import { MetadataUnavailableError } from "../metadata/errors.js";
import type { MetadataSource, QueryProgress, RecordQuery } from "../metadata/metadata-store.js";
import type { MetadataRecord } from "../metadata/record.js";
import type { MountMetrics } from "./metrics.js";

export class MeteredMetadata implements MetadataSource {
  constructor(private readonly inner: MetadataSource, private readonly m: MountMetrics) {}

  get project(): string {
    return this.inner.project;
  }

  async query(q: RecordQuery, progress?: QueryProgress): Promise<MetadataRecord[]> {
    const end = this.m.datastoreSeconds.startTimer();
    const heard: QueryProgress = {
      onPage: () => progress?.onPage?.(),
      onRetry: () => {
        this.m.datastoreRetries.inc();
        progress?.onRetry?.();
      },
    };
    try {
      const records = await this.inner.query(q, heard);
      this.m.datastoreQueries.inc({ status: "ok" });
      this.m.datastoreRecords.inc(records.length);
      return records;
    } catch (err) {
      this.m.datastoreQueries.inc({ status: err instanceof MetadataUnavailableError ? "unavailable" : "error" });
      throw err;
    } finally {
      end();
    }
  }
}
