import type { NormalizedEvent } from '../core/event.ts';
import type { WorkspaceId } from '../core/ids.ts';
import type { AppendOutcome, IdentityConfig, Store } from '../store/port.ts';

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
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
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
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      this.inFlight++;
      const started = performance.now();
      this.store
        .appendEvents(
          batch.map((p) => p.events),
          this.identity,
        )
        .then(
          (outcomes) => {
            for (const [i, p] of batch.entries()) p.resolve(outcomes[i]!);
          },
          (err: unknown) => {
            for (const p of batch) p.reject(err);
          },
        )
        .finally(() => {
          this.inFlight--;
          const events = batch.reduce((s, p) => s + p.events.length, 0);
          this.options.observer?.committed(events, batch.length, (performance.now() - started) / 1000);
          if (this.queue.length > 0) this.schedule();
          else if (this.inFlight === 0) for (const done of this.idle.splice(0)) done();
        });
    }
  }
}
