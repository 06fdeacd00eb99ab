import type { NormalizedEvent } from '../core/event.ts';
import type { WorkspaceId } from '../core/ids.ts';
import type { AppendOutcome, IdentityConfig, Store } from '../store/port.ts';

export interface CommitObserver {
  /** After each group commit: how many events, how many requests, how long it took. */
  committed(events: number, requests: number, seconds: number): void;
}

interface Pending {
  readonly events: readonly NormalizedEvent[];
  readonly resolve: (o: AppendOutcome) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Group commit: requests that arrive while a commit is being written wait together and go into
 * the next transaction, so each one still gets its answer only after its events are durable, but
 * the cost of a durable commit is shared by every request in it.
 */
export class IngestService {
  private queue: Pending[] = [];
  private queuedEvents = 0;
  private running = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly identity: (ws: WorkspaceId) => IdentityConfig,
    private readonly options: { maxCommitEvents: number; observer?: CommitObserver } = { maxCommitEvents: 20_000 },
  ) {}

  /** Resolves once the events are committed. */
  submit(events: readonly NormalizedEvent[]): Promise<AppendOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.queuedEvents += events.length;
      if (!this.running) {
        this.running = true;
        // Let every request that is already parsed in this turn of the event loop join the commit.
        setImmediate(() => void this.loop());
      }
    });
  }

  /** Events accepted but not yet committed. */
  get backlog(): number {
    return this.queuedEvents;
  }

  /** Resolves when nothing is queued or being written. */
  drain(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private take(): Pending[] {
    let n = 0;
    let i = 0;
    while (i < this.queue.length && (i === 0 || n + this.queue[i]!.events.length <= this.options.maxCommitEvents)) {
      n += this.queue[i]!.events.length;
      i++;
    }
    const batch = this.queue.slice(0, i);
    this.queue = this.queue.slice(i);
    this.queuedEvents -= n;
    return batch;
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.take();
      const started = performance.now();
      try {
        const outcomes = await this.store.appendEvents(
          batch.map((p) => p.events),
          this.identity,
        );
        batch.forEach((p, i) => p.resolve(outcomes[i]!));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
      const events = batch.reduce((s, p) => s + p.events.length, 0);
      this.options.observer?.committed(events, batch.length, (performance.now() - started) / 1000);
    }
    this.running = false;
    for (const done of this.idle.splice(0)) done();
  }
}
