import { CHANNELS, type Channel, type MessageCategory } from '../channels/outbound.ts';
import type { DeliveryRecord } from './facts.ts';

/**
 * The recent deliveries of each profile, which caps and de-duplication read. Pure functions over
 * a list sorted by time, bounded by the longest rule window and a maximum length, so the
 * dispatcher can keep every active profile's list in memory and rebuild them at start from the
 * `Message Sent` events in the log:
 *
 * ```json
 * { "type": "track", "event": "Message Sent", "timestamp": "…",
 *   "properties": { "channel": "email", "category": "promotional", "topic": "offers",
 *                   "template": "ev-offer", "journey": "ev-launch", "content_hash": "…",
 *                   "message_id": "…" } }
 * ```
 *
 * `channel`, `category` and `template` are required (an event without them is ignored); `topic`,
 * `journey`, `content_hash` and `message_id` may be left out or null. The event's timestamp is
 * when the message was sent.
 */

/** The name of the event recording a sent message. */
export const MESSAGE_SENT = 'Message Sent';

export interface HistoryLimits {
  /** Deliveries older than this (relative to now) are dropped: the longest cap or dedupe window. */
  readonly retentionMs: number;
  /** At most this many deliveries per profile (the newest are kept). */
  readonly maxEntries: number;
}

/** Room for any sane policy: a profile sent more than this within the longest window is an outlier. */
export const DEFAULT_MAX_ENTRIES = 500;

/** The deliveries still inside the retention window and the length bound (input sorted by time). */
export function pruneDeliveries(
  history: readonly DeliveryRecord[],
  now: number,
  limits: HistoryLimits,
): readonly DeliveryRecord[] {
  const since = now - limits.retentionMs;
  let first = 0;
  while (first < history.length && history[first]!.at <= since) first++;
  first = Math.max(first, history.length - limits.maxEntries);
  return first === 0 ? history : history.slice(first);
}

/**
 * The history with `record` added in time order (a record with a message id already present is
 * not added twice), then pruned as of `now`.
 */
export function appendDelivery(
  history: readonly DeliveryRecord[],
  record: DeliveryRecord,
  now: number,
  limits: HistoryLimits,
): readonly DeliveryRecord[] {
  if (record.messageId !== null && history.some((d) => d.messageId === record.messageId)) {
    return pruneDeliveries(history, now, limits);
  }
  let i = history.length;
  while (i > 0 && history[i - 1]!.at > record.at) i--;
  const next = [...history.slice(0, i), record, ...history.slice(i)];
  return pruneDeliveries(next, now, limits);
}

/** The event properties the guardrails expect on `Message Sent`, from an outbound message. */
export function messageSentProperties(record: Omit<DeliveryRecord, 'at'>): Record<string, unknown> {
  return {
    channel: record.channel,
    category: record.category,
    topic: record.topic,
    template: record.template,
    journey: record.journey,
    content_hash: record.contentHash,
    message_id: record.messageId,
  };
}

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * The delivery a `Message Sent` event records, or null when the event is not one or lacks the
 * channel, category or template. `timestamp` is ms since the epoch or an ISO 8601 string.
 */
export function deliveryFromEvent(event: {
  readonly name?: string | null;
  readonly event?: string | null;
  readonly timestamp: number | string;
  readonly properties?: unknown;
}): DeliveryRecord | null {
  if ((event.name ?? event.event) !== MESSAGE_SENT) return null;
  const p = event.properties;
  if (typeof p !== 'object' || p === null) return null;
  const props = p as Record<string, unknown>;
  const channel = text(props.channel);
  const category = text(props.category);
  const template = text(props.template);
  const at = typeof event.timestamp === 'number' ? event.timestamp : Date.parse(event.timestamp);
  if (
    channel === null ||
    !(CHANNELS as readonly string[]).includes(channel) ||
    (category !== 'transactional' && category !== 'promotional') ||
    template === null ||
    !Number.isFinite(at)
  ) {
    return null;
  }
  return {
    channel: channel as Channel,
    category: category as MessageCategory,
    topic: text(props.topic),
    template,
    journey: text(props.journey),
    contentHash: text(props.content_hash),
    messageId: text(props.message_id),
    at,
  };
}

/**
 * Every profile's recent deliveries, kept in memory. The dispatcher records each sent message
 * and reads `of(profileId)` as the facts' `deliveries`; at start it replays the log's
 * `Message Sent` events through `replay`. Time is passed in, never read.
 */
export class DeliveryHistory {
  private readonly byProfile = new Map<string, readonly DeliveryRecord[]>();
  private limits: HistoryLimits;

  constructor(limits: HistoryLimits) {
    this.limits = limits;
  }

  /** Changes the bounds (after the rules changed); lists shrink as they are next touched. */
  setLimits(limits: HistoryLimits): void {
    this.limits = limits;
  }

  /** The profile's deliveries within the retention window as of `now`, oldest first. */
  of(profileId: string, now: number): readonly DeliveryRecord[] {
    const h = this.byProfile.get(profileId);
    if (h === undefined) return [];
    const pruned = pruneDeliveries(h, now, this.limits);
    if (pruned !== h) this.store(profileId, pruned);
    return pruned;
  }

  /** Records one sent message. */
  record(profileId: string, delivery: DeliveryRecord, now: number): void {
    this.store(profileId, appendDelivery(this.byProfile.get(profileId) ?? [], delivery, now, this.limits));
  }

  /** Records the `Message Sent` events among `events` (any order); returns how many were. */
  replay(
    events: Iterable<{
      readonly profileId: string;
      readonly name?: string | null;
      readonly event?: string | null;
      readonly timestamp: number | string;
      readonly properties?: unknown;
    }>,
    now: number,
  ): number {
    let n = 0;
    for (const e of events) {
      const d = deliveryFromEvent(e);
      if (d === null || d.at <= now - this.limits.retentionMs) continue;
      this.record(e.profileId, d, now);
      n++;
    }
    return n;
  }

  /** Drops lists that have emptied as of `now` (call now and then to bound memory). */
  sweep(now: number): void {
    for (const id of [...this.byProfile.keys()]) this.of(id, now);
  }

  /** Profiles with a non-empty list. */
  get size(): number {
    return this.byProfile.size;
  }

  private store(profileId: string, history: readonly DeliveryRecord[]): void {
    if (history.length === 0) this.byProfile.delete(profileId);
    else this.byProfile.set(profileId, history);
  }
}
