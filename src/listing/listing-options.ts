// How a mount lists directories; `som mount` exposes the first two.
export interface ListingOptions {
  /** Entries kept across all cached listings. */
  entryBudget: number;
  /** List requests in flight at once (all listings of the mount together). */
  concurrency: number;
  /** Most pieces one key range is split into at a time. */
  maxPieces: number;
  /** How often a long listing reports progress. */
  progressEveryMs: number;
  /** A walk lists ahead of the walker at most this many entries. */
  walkAheadEntries: number;
}

/**
 * 32 list requests in flight: a million-entry directory at 100 ms per
 * request lists in a few seconds, without one mount hammering the service.
 * 2 million entries at ~100 bytes each stay within a few hundred MiB.
 */
export const defaultListingOptions: ListingOptions = {
  entryBudget: 2_000_000, concurrency: 32, maxPieces: 64, progressEveryMs: 5_000, walkAheadEntries: 200_000,
};
