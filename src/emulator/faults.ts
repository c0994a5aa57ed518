// Conditions injected into the emulator's responses, for tests and benchmarks:
// latency per request, a bandwidth cap per response stream, random 503s and
// responses cut mid-body. One seeded generator makes a run reproducible.

export interface FaultOptions {
  latencyMs: number;
  /** Bytes per second per response stream; 0 = unlimited. */
  bandwidth: number;
  /** Probability that an API request answers 503. */
  errorRate: number;
  /** Probability that a media response is cut off mid-body. */
  cutRate: number;
  seed: number;
  /**
   * While on, list requests for a key range (with startOffset) wait: a
   * listing gets its first page and no more, so a test can see what a
   * client does with a directory that is still arriving.
   */
  holdRangeLists: boolean;
  /** The next this many API requests answer 503, whatever errorRate says (then it counts down). */
  failNext: number;
}

export const noFaults: FaultOptions = { latencyMs: 0, bandwidth: 0, errorRate: 0, cutRate: 0, seed: 1, holdRangeLists: false, failNext: 0 };

/** mulberry32: small, fast, and good enough to decide coin flips reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Faults {
  private opts: FaultOptions;
  private rand: () => number;
  private held: (() => void)[] = [];

  constructor(opts: Partial<FaultOptions> = {}) {
    this.opts = { ...noFaults, ...opts };
    this.rand = seededRandom(this.opts.seed);
  }

  get options(): FaultOptions {
    return { ...this.opts };
  }

  update(opts: Partial<FaultOptions>): void {
    this.opts = { ...this.opts, ...opts };
    if (opts.seed !== undefined) this.rand = seededRandom(opts.seed);
    if (!this.opts.holdRangeLists) this.release();
  }

  /** Resolves at once, or when holdRangeLists is turned off. */
  rangeListGate(): Promise<void> {
    if (!this.opts.holdRangeLists) return Promise.resolve();
    return new Promise((r) => this.held.push(r));
  }

  /** List requests waiting at the gate. */
  get holding(): number {
    return this.held.length;
  }

  private release(): void {
    const h = this.held;
    this.held = [];
    for (const r of h) r();
  }

  latency(): Promise<void> {
    const ms = this.opts.latencyMs;
    return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
  }

  shouldFail(): boolean {
    if (this.opts.failNext > 0) {
      this.opts.failNext--;
      return true;
    }
    return this.opts.errorRate > 0 && this.rand() < this.opts.errorRate;
  }

  /** Where to cut a body of `size` bytes, or undefined to send it whole. */
  cutAt(size: number): number | undefined {
    if (this.opts.cutRate <= 0 || size < 2 || this.rand() >= this.opts.cutRate) return undefined;
    return Math.floor(this.rand() * (size - 1));
  }

  get bandwidth(): number {
    return this.opts.bandwidth;
  }
}
