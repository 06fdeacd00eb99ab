import type { NormalizedEvent } from '../core/event.ts';
import type { WorkspaceId } from '../core/ids.ts';
import type { AppendOutcome, AppendResult, CommitChanges, IdentityConfig, Store } from '../store/port.ts';

export interface CommitObserver {
  /** After each group commit: how many events, how many requests, how long it took. */
  committed(events: number, requests: number, seconds: number): void;
}

export interface IngestOptions {
  /** Most events in one commit; bigger requests still go in one piece. */
  readonly maxCommitEvents: number;
  /**
   * Commits handed to the store before the first one is answered. Two keeps a writer thread
   * busy while this thread parses the next requests.
   */
  readonly maxInFlight?: number;
  readonly observer?: CommitObserver;
}

/** Called after each commit, in commit order, with its events (flattened) and what it changed. */
const NO_CHANGES: CommitChanges = { profiles: [], merges: [], traits: [] };

export type CommitListener = (events: readonly NormalizedEvent[], changes: CommitChanges) => void;

interface Pending {
  readonly events: readonly NormalizedEvent[];
  readonly resolve: (o: AppendOutcome) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Group commit: requests that arrive while commits are being written wait together and go into
 * the next transaction, so each one still gets its answer only after its events are durable, but
 * the cost of a durable commit is shared by every request in it.
 */
export class IngestService {
  private queue: Pending[] = [];
  private queuedEvents = 0;
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];
  private readonly maxInFlight: number;
  private readonly listeners: CommitListener[] = [];
  /** Set while `exclusive` waits for, or runs with, no commit in flight. */
  private held = 0;
  private quiet: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly identity: (ws: WorkspaceId) => IdentityConfig,
    private readonly options: IngestOptions = { maxCommitEvents: 5_000 },
  ) {
    this.maxInFlight = options.maxInFlight ?? 2;
  }

  /** Resolves once the events are committed. */
  submit(events: readonly NormalizedEvent[]): Promise<AppendOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.queuedEvents += events.length;
      this.schedule();
    });
  }

  /** Follows every commit from now on; listeners are called in the order they were added. */
  listen(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /**
   * Runs `fn` while no commit is in flight: commits already started finish (and reach the listener)
   * first, new ones wait until `fn` is done. Lets a reader mark a point in the log that every later
   * commit comes after.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.held++;
    try {
      if (this.inFlight > 0) await new Promise<void>((resolve) => this.quiet.push(resolve));
      return await fn();
    } finally {
      this.held--;
      this.schedule();
    }
  }

  /** Events accepted but not yet committed. */
  get backlog(): number {
    return this.queuedEvents;
  }

  /** Resolves when nothing is queued or being written. */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.held > 0 || this.inFlight >= this.maxInFlight || this.queue.length === 0)
      return;
    this.scheduled = true;
    // Let every request already parsed in this turn of the event loop join the commit.
    setImmediate(() => {
      this.scheduled = false;
      this.commitNext();
    });
  }

  private take(): Pending[] {
    let n = 0;
    let i = 0;
    while (
      i < this.queue.length &&
      (i === 0 || n + this.queue[i]!.events.length <= this.options.maxCommitEvents)
    ) {
      n += this.queue[i]!.events.length;
      i++;
    }
    const batch = this.queue.slice(0, i);
    this.queue = this.queue.slice(i);
    this.queuedEvents -= n;
    return batch;
  }

  private commitNext(): void {
    while (this.held === 0 && this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      this.inFlight++;
      const started = performance.now();
      const groups = batch.map((p) => p.events);
      const listeners = this.listeners.slice();
      const appended: Promise<AppendResult> =
        listeners.length > 0
          ? this.store.appendWithChanges(groups, this.identity)
          : this.store
              .appendEvents(groups, this.identity)
              .then((outcomes) => ({ outcomes, changes: NO_CHANGES }));
      appended
        .then(
          ({ outcomes, changes }) => {
            for (const [i, p] of batch.entries()) p.resolve(outcomes[i]!);
            if (listeners.length > 0) {
              const events = groups.length === 1 ? groups[0]! : groups.flat();
              for (const listener of listeners) listener(events, changes);
            }
          },
          (err: unknown) => {
            for (const p of batch) p.reject(err);
          },
        )
        .finally(() => {
          this.inFlight--;
          const events = batch.reduce((s, p) => s + p.events.length, 0);
          this.options.observer?.committed(events, batch.length, (performance.now() - started) / 1000);
          if (this.inFlight === 0) for (const done of this.quiet.splice(0)) done();
          if (this.queue.length > 0) this.schedule();
          else if (this.inFlight === 0) for (const done of this.idle.splice(0)) done();
        });
    }
  }
}
