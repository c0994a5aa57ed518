// At most `max` tasks running; waiting ones start in priority order. Used for
// list requests, so that one big listing cannot flood the service, what a
// user is waiting for (a readdir) goes before what is speculative (a walk
// listed ahead), and within a listing the earliest keys go first (a
// streaming readdir hands them out first).

export interface Priority {
  /** 0 = someone is waiting; higher = background. */
  tier: number;
  /** Submission order of the listing (older first). */
  seq: number;
  /** Position within it; compared with `compare`. */
  key: string;
}

interface Waiting {
  priority: Priority;
  start: () => void;
}

export class PriorityLimiter {
  private running = 0;
  /** INVARIANT: sorted by priority, best first. */
  private readonly waiting: Waiting[] = [];

  constructor(readonly max: number, private readonly compare: (a: string, b: string) => number) {}

  private before(a: Priority, b: Priority): boolean {
    if (a.tier !== b.tier) return a.tier < b.tier;
    if (a.seq !== b.seq) return a.seq < b.seq;
    return this.compare(a.key, b.key) < 0;
  }

  run<T>(priority: Priority, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        fn().then(resolve, reject).finally(() => {
          this.running--;
          this.next();
        });
      };
      if (this.running < this.max) return start();
      let i = this.waiting.length;
      while (i > 0 && this.before(priority, this.waiting[i - 1]!.priority)) i--;
      this.waiting.splice(i, 0, { priority, start });
    });
  }

  private next(): void {
    while (this.running < this.max && this.waiting.length > 0) this.waiting.shift()!.start();
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }
}
