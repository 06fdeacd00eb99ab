import type { JsonObject } from '../core/event.ts';

/** The channels a message can go out on. */
export const CHANNELS = ['email', 'sms', 'push', 'webpush', 'webhook', 'inapp'] as const;
export type Channel = (typeof CHANNELS)[number];

/** Transactional messages answer something the customer did; promotional ones sell. */
export type MessageCategory = 'transactional' | 'promotional';

/**
 * One message a journey decided to send, as committed to the outbox in the same transaction as
 * the step that decided it. `id` is unique per (journey run, step): it is the idempotency key
 * passed to providers, so a retry or a restart never sends it twice.
 */
export interface OutboundMessage {
  readonly id: string;
  readonly workspaceId: string;
  readonly profileId: string;
  readonly channel: Channel;
  /** The template key (templates are stored per workspace). */
  readonly template: string;
  readonly category: MessageCategory;
  /** Optional topic for subscription groups (e.g. `newsletter`, `offers`). */
  readonly topic?: string;
  /** Where it came from, for guardrail records, stats and the timeline. */
  readonly journey: {
    readonly key: string;
    readonly version: number;
    readonly runId: string;
    readonly node: string;
  } | null;
  /** The event that triggered the run, as the template sees it (`event.properties.order_id`). */
  readonly event: JsonObject | null;
  /** Values the journey gathered (e.g. the `wait_for` event that arrived), for templates. */
  readonly context: JsonObject;
  /** When the step decided to send (ms since epoch). */
  readonly createdAt: number;
}
