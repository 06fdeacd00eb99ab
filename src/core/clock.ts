/**
 * Time, injected. Everything that waits (segment windows, journey timers) asks a clock, so tests
 * can move time forward at will instead of sleeping.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once the clock reads `at` or later. Returns a function that cancels it. */
  at(at: number, fn: () => void): () => void;
}

/** Longest single wait a Node timer accepts; longer waits are re-armed. */
const MAX_TIMEOUT_MS = 2_147_483_647;

export const systemClock: Clock = {
  now: Date.now,
  at(at, fn) {
    let timer: NodeJS.Timeout;
    const arm = () => {
      const wait = at - Date.now();
      if (wait <= 0) {
        fn();
        return;
      }
      timer = setTimeout(arm, Math.min(wait, MAX_TIMEOUT_MS));
      timer.unref();
    };
    timer = setTimeout(arm, 0);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** A clock that moves only when told to; `advance` runs what falls due, in time order. */
export class VirtualClock implements Clock {
  private current: number;
  private readonly waiting: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  constructor(start: number) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  at(at: number, fn: () => void): () => void {
    if (at <= this.current) {
      // Already due (asked for after the clock moved past it): run it soon, as a real clock would.
      const timer = setImmediate(fn);
      return () => clearImmediate(timer);
    }
    const entry = { at, seq: this.seq++, fn };
    this.waiting.push(entry);
    return () => {
      const i = this.waiting.indexOf(entry);
      if (i >= 0) this.waiting.splice(i, 1);
    };
  }

  /** Moves time forward by `ms`, running every callback due on the way at its own time. */
  advance(ms: number): void {
    this.set(this.current + ms);
  }

  set(to: number): void {
    if (to < this.current) throw new Error('a virtual clock never goes back');
    for (;;) {
      let next: (typeof this.waiting)[number] | undefined;
      for (const w of this.waiting) {
        if (w.at <= to && (next === undefined || w.at < next.at || (w.at === next.at && w.seq < next.seq)))
          next = w;
      }
      if (next === undefined) break;
      this.waiting.splice(this.waiting.indexOf(next), 1);
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.current = to;
  }
}
