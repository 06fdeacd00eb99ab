/**
 * The outbox dispatcher: performs what journey steps committed to the outbox. Rows are claimed
 * (marked `sending`), performed with bounded concurrency, and settled; a message goes to the
 * deliverer (templates, guardrails, channels) with its outbox id as the idempotency key, a trait
 * update is ingested as an `identify` whose message id is the outbox id (so doing it twice stores
 * it once). What happened to each message is recorded in the log as `Message Sent`,
 * `Message Skipped` or `Message Failed`, so it shows on the profile's timeline and feeds segments,
 * guardrails and measurement.
 */
import { randomUUID } from 'node:crypto';
import type { OutboundMessage } from '../channels/outbound.ts';
import type { Clock } from '../core/clock.ts';
import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import { asProfileId, type SourceId, type WorkspaceId } from '../core/ids.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import { normalizeMessage } from '../ingest/normalize.ts';
import type { Store } from '../store/port.ts';
import type { JourneyStore, OutboxResult, OutboxRow, OutcomeRecord } from './store/port.ts';

export type DeliveryOutcome =
  | { readonly status: 'sent'; readonly detail?: string | null; readonly properties?: JsonObject }
  | { readonly status: 'skipped'; readonly reason: string; readonly detail?: string | null }
  /** Not now (quiet hours, a rate limit): try again at `until`. */
  | { readonly status: 'deferred'; readonly until: number; readonly reason: string }
  /** A failure worth retrying (a timeout, a 5xx) or not (`permanent`). */
  | { readonly status: 'failed'; readonly detail: string; readonly permanent: boolean };

/** Templates, guardrails and channels behind one call. */
export interface Deliverer {
  deliver(message: OutboundMessage, attempt: number, hooks?: DeliveryHooks): Promise<DeliveryOutcome>;
}

export interface DeliveryHooks {
  /**
   * The provider holds the whole message and only its final acceptance is left: record it as
   * sent, durably, before the send completes (the properties go on its `Message Sent` event).
   */
  committing?(properties: JsonObject): Promise<void>;
}

export interface DispatcherDeps {
  readonly store: Store;
  readonly journeys: JourneyStore;
  readonly ingest: IngestService;
  readonly workspace: WorkspaceId;
  readonly clock: Clock;
  /** Null: messages wait in the outbox until a deliverer is configured. */
  readonly deliverer: Deliverer | null;
  /** The built-in source recording trait updates and message outcomes. */
  readonly systemSource: SourceId;
  readonly concurrency?: number;
  readonly maxAttempts?: number;
  readonly log?: { error(o: object, msg: string): void; warn?(o: object, msg: string): void };
  readonly observer?: (row: OutboxRow, outcome: string) => void;
}

const CLAIM = 200;
/** A message recorded as sent while the provider finished accepting it (see DeliveryHooks). */
export const ACCEPTED = 'accepted by the provider';
/** After a crash, a message left `ACCEPTED`: the provider may or may not have it. */
export const IN_DOUBT = 'in doubt: the process stopped while the provider was accepting it';
/** The provider confirmed it. */
const CONFIRMED = 'delivered';

export class Dispatcher {
  private queued = false;
  private running: Promise<void> | null = null;
  private cancelTimer: (() => void) | null = null;
  private armedAt: number | null = null;
  private closed = false;
  /** Set once rows a previous process left behind are recovered: nothing is claimed before. */
  private started = false;
  private readonly concurrency: number;
  private readonly maxAttempts: number;
  private deliverer: Deliverer | null;

  constructor(private readonly deps: DispatcherDeps) {
    this.concurrency = deps.concurrency ?? 32;
    this.maxAttempts = deps.maxAttempts ?? 6;
    this.deliverer = deps.deliverer;
  }

  /** Sets what performs messages (the delivery pipeline, once the channels are open). */
  use(deliverer: Deliverer): void {
    this.deliverer = deliverer;
    if (this.started) this.kick();
  }

  /** Without a deliverer only trait updates are worked; messages wait untouched in the outbox. */
  private get updatesOnly(): boolean {
    return this.deliverer === null;
  }

  /** Rows a previous process left `sending` go back to pending, then the outbox is worked. */
  async start(): Promise<void> {
    const inDoubt = await this.deps.journeys.markInDoubt(this.deps.workspace, ACCEPTED, IN_DOUBT);
    if (inDoubt > 0)
      this.deps.log?.warn?.(
        { messages: inDoubt },
        'messages in doubt: the process stopped while providers were accepting them; they are not sent again',
      );
    await this.deps.journeys.recoverOutbox(this.deps.workspace);
    this.started = true;
    this.kickRecorder();
    this.kick();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelTimer?.();
    await this.running;
    await this.recording;
  }

  /** New rows were committed: work the outbox soon. */
  kick(): void {
    if (this.closed || !this.started) return;
    if (this.running) {
      this.queued = true;
      return;
    }
    this.running = this.work()
      .catch((err: unknown) => this.deps.log?.error({ err }, 'the outbox dispatcher failed'))
      .finally(() => {
        this.running = null;
        if (this.queued) {
          this.queued = false;
          this.kick();
        } else void this.arm();
      });
  }

  private async arm(): Promise<void> {
    if (this.closed) return;
    const next = await this.deps.journeys.nextOutboxDue(this.deps.workspace, this.updatesOnly);
    if (next === null || next === this.armedAt) return;
    this.cancelTimer?.();
    this.armedAt = next;
    this.cancelTimer = this.deps.clock.at(next, () => {
      this.armedAt = null;
      this.cancelTimer = null;
      this.kick();
    });
  }

  private async work(): Promise<void> {
    const { journeys, workspace: ws, clock } = this.deps;
    for (;;) {
      if (this.closed) return;
      const rows = await journeys.claimOutbox(ws, clock.now(), CLAIM, this.updatesOnly);
      if (rows.length === 0) return;
      let next = 0;
      const worker = async () => {
        while (next < rows.length) {
          const r = rows[next++]!;
          const out = await this.perform(r).catch(
            (err: unknown): DeliveryOutcome => ({
              status: 'failed',
              detail: err instanceof Error ? err.message : String(err),
              permanent: false,
            }),
          );
          // Settled as soon as it is done (grouped with others done meanwhile). A message the
          // sender had us record as sent before completing it is settled already, unless it failed.
          const early = this.committedEarly.delete(r.id);
          if (early && out.status === 'sent') await this.settleSoon(r, out, true);
          else await this.settleSoon(r, out);
          this.deps.observer?.(r, out.status);
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, rows.length) }, worker));
      if (rows.length < CLAIM) return;
    }
  }

  /** Messages recorded as sent while their send completed (see DeliveryHooks). */
  private readonly committedEarly = new Set<string>();
  private settling: {
    row: OutboxRow;
    out: DeliveryOutcome;
    done: () => void;
    fail: (e: unknown) => void;
    confirm: boolean;
  }[] = [];
  private flushing = false;

  /** `confirm`: the provider confirmed a message already recorded as sent (nothing else changes). */
  private settleSoon(row: OutboxRow, out: DeliveryOutcome, confirm = false): Promise<void> {
    return new Promise((done, fail) => {
      this.settling.push({ row, out, done, fail, confirm });
      // Outcomes that arrive in the same turn of the event loop share one transaction: the
      // store's calls are synchronous, so flushing at once would commit each message alone.
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Commits the outcomes gathered so far in one transaction, then the events recording them. */
  private async flush(): Promise<void> {
    const { journeys, workspace: ws, clock } = this.deps;
    try {
      while (this.settling.length > 0) {
        const items = this.settling.splice(0);
        try {
          const results = items.map((x) =>
            x.confirm
              ? { id: x.row.id, status: 'sent' as const, detail: CONFIRMED }
              : this.settle(x.row, x.out),
          );
          // What became of each journey message, counted on its node (delivered, skipped by reason).
          const stats = items.flatMap((x, i) => (x.confirm ? [] : outcomeStat(x.row, results[i]!)));
          await journeys.settleOutbox(ws, results, clock.now(), stats);
          // Sends waiting on this commit (see DeliveryHooks) go on first; recording comes after.
          for (const x of items) x.done();
          setImmediate(() => this.kickRecorder());
        } catch (err) {
          for (const x of items) x.fail(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async perform(r: OutboxRow): Promise<DeliveryOutcome> {
    if (r.kind === 'update') return this.profileLock(r.profileId, () => this.update(r));
    if (this.deliverer === null) {
      return { status: 'deferred', until: this.deps.clock.now() + 60_000, reason: 'no_deliverer' };
    }
    return this.deliverer.deliver(r.payload as unknown as OutboundMessage, r.attempts, {
      committing: async (properties) => {
        await this.settleSoon(r, { status: 'sent', detail: ACCEPTED, properties });
        this.committedEarly.add(r.id);
      },
    });
  }

  private readonly locks = new Map<string, Promise<unknown>>();

  /** Runs `fn` after everything queued before it for the same profile. */
  private profileLock<T>(profileId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(profileId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.locks.set(profileId, next);
    void next.then(
      () => this.locks.get(profileId) === next && this.locks.delete(profileId),
      () => this.locks.get(profileId) === next && this.locks.delete(profileId),
    );
    return next;
  }

  /**
   * A trait update, as an identify whose message id is the outbox id: performed twice (a crash
   * between the commit and the settlement), it is stored once. Increments add to the trait as it
   * is now, after the profile's earlier updates (one update per profile at a time).
   */
  private async update(r: OutboxRow): Promise<DeliveryOutcome> {
    const traits = { ...((r.payload.traits ?? {}) as JsonObject) };
    const increment = (r.payload.increment ?? {}) as Record<string, number>;
    if (Object.keys(increment).length > 0) {
      const p = await this.deps.store.getProfile(this.deps.workspace, asProfileId(r.profileId));
      if (p === null) return { status: 'skipped', reason: 'profile_gone' };
      for (const [k, n] of Object.entries(increment)) {
        const cur = Number(p.traits[k]);
        traits[k] = (Number.isFinite(cur) ? cur : 0) + n;
      }
    }
    const ev = await this.event(r, { type: 'identify', traits, messageId: `journey:${r.id}` });
    if (ev === null) return { status: 'skipped', reason: 'profile_gone' };
    const outcome = await this.deps.ingest.submit([ev]);
    return { status: 'sent', detail: outcome.duplicates > 0 ? 'traits already updated' : 'traits updated' };
  }

  private settle(r: OutboxRow, out: DeliveryOutcome): OutboxResult {
    const result = this.result(r, out);
    const record = result.status === 'pending' ? null : this.outcomeRecord(r, out);
    return record === null ? result : { ...result, record };
  }

  private result(r: OutboxRow, out: DeliveryOutcome): OutboxResult {
    switch (out.status) {
      case 'sent':
        return { id: r.id, status: 'sent', detail: out.detail ?? null };
      case 'skipped':
        return { id: r.id, status: 'skipped', detail: out.reason };
      case 'deferred':
        return { id: r.id, status: 'pending', detail: `deferred: ${out.reason}`, dueAt: out.until };
      case 'failed': {
        if (out.permanent || r.attempts >= this.maxAttempts)
          return { id: r.id, status: 'failed', detail: out.detail };
        // Exponential backoff with full jitter: up to 2^attempt seconds.
        const delay = Math.round(Math.random() * 1000 * 2 ** r.attempts);
        return {
          id: r.id,
          status: 'pending',
          detail: `retry: ${out.detail}`,
          dueAt: this.deps.clock.now() + delay,
        };
      }
    }
  }

  /** The event recording a message's outcome (none for trait updates and retries). */
  private outcomeRecord(r: OutboxRow, out: DeliveryOutcome): OutcomeRecord | null {
    if (r.kind !== 'send') return null;
    const m = r.payload as unknown as OutboundMessage;
    let event: string;
    const properties: JsonObject = {
      message_id: m.id,
      channel: m.channel,
      template: m.template,
      category: m.category,
      ...(m.topic ? { topic: m.topic } : {}),
      ...(m.journey
        ? { journey: m.journey.key, journey_version: m.journey.version, node: m.journey.node }
        : {}),
    };
    if (out.status === 'sent') {
      event = 'Message Sent';
      Object.assign(properties, out.properties ?? {});
    } else if (out.status === 'skipped') {
      event = 'Message Skipped';
      properties.reason = out.reason;
      if (out.detail) properties.detail = out.detail;
    } else if (out.status === 'failed' && (out.permanent || r.attempts >= this.maxAttempts)) {
      event = 'Message Failed';
      properties.reason = out.detail;
    } else return null;
    return { event, properties };
  }

  private recording: Promise<void> | null = null;
  private recordAgain = false;

  /** Stores the outcome events of settled rows (also those a crash left unrecorded). */
  private kickRecorder(): void {
    if (this.recording) {
      this.recordAgain = true;
      return;
    }
    this.recording = this.recordAll()
      .catch((err: unknown) => this.deps.log?.error({ err }, 'message outcomes could not be recorded'))
      .finally(() => {
        this.recording = null;
        if (this.recordAgain && !this.closed) {
          this.recordAgain = false;
          this.kickRecorder();
        }
      });
  }

  private async recordAll(): Promise<void> {
    const { journeys, workspace: ws } = this.deps;
    for (;;) {
      const rows = await journeys.unrecorded(ws, 500);
      if (rows.length === 0) return;
      const events: NormalizedEvent[] = [];
      for (const r of rows) {
        const ev = await this.eventFor(r.profileId, r.settledAt, {
          type: 'track',
          event: r.record.event,
          properties: r.record.properties,
          // The same id however often it is recorded: the log stores it once.
          messageId: `message:${r.id}:${r.record.event}`,
        });
        if (ev) events.push(ev);
      }
      if (events.length > 0) await this.deps.ingest.submit(events);
      await journeys.markRecorded(
        ws,
        rows.map((r) => r.id),
      );
      if (rows.length < 500) return;
    }
  }

  private event(r: OutboxRow, body: JsonObject): Promise<NormalizedEvent | null> {
    return this.eventFor(r.profileId, this.deps.clock.now(), body);
  }

  private async eventFor(profileId: string, at: number, body: JsonObject): Promise<NormalizedEvent | null> {
    const { store, workspace, clock, systemSource } = this.deps;
    const p = await store.getProfile(workspace, asProfileId(profileId));
    if (p === null) return null;
    const userId = p.userIds[0] ?? null;
    const anonymousId = p.anonymousIds[0] ?? null;
    if (userId === null && anonymousId === null) return null;
    const message: JsonObject = {
      ...body,
      timestamp: new Date(at).toISOString(),
      context: { library: { name: 'concierge-journeys' } },
      ...(userId !== null ? { userId } : { anonymousId }),
    };
    return normalizeMessage(message, body.type as 'track' | 'identify', {
      workspaceId: workspace,
      sourceId: systemSource,
      receivedAt: clock.now(),
      newMessageId: randomUUID,
    });
  }
}

/** The journey counter an outbox outcome adds to: `delivered`, `skipped:{reason}` or `failed`. */
function outcomeStat(
  r: OutboxRow,
  result: OutboxResult,
): { journey: string; node: string; metric: string; n: number }[] {
  if (r.kind !== 'send' || r.journey === null) return [];
  const node = (r.payload as unknown as OutboundMessage).journey?.node;
  if (node === undefined) return [];
  const metric =
    result.status === 'sent'
      ? 'delivered'
      : result.status === 'skipped'
        ? `skipped:${result.detail ?? 'unknown'}`
        : result.status === 'failed'
          ? 'failed'
          : null;
  return metric === null ? [] : [{ journey: r.journey, node, metric, n: 1 }];
}
