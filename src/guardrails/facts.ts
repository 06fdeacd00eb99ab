import type { Channel, MessageCategory } from '../channels/outbound.ts';

/**
 * Everything the guardrails know about one profile when they decide on a message. The dispatcher
 * gathers it (profile, segment memberships, the in-memory delivery history, provider buckets) and
 * passes it in, so deciding itself reads nothing.
 */
export interface GuardrailFacts {
  /**
   * The profile's traits. Read: the consent trait (`consent` by default, see consent.ts), the
   * time-zone trait (`timezone`, an IANA name) and the send-time trait (`best_hour`).
   */
  readonly traits: Readonly<Record<string, unknown>>;
  /** Computed traits; the time-zone and send-time traits are looked for here when not in `traits`. */
  readonly computed?: Readonly<Record<string, unknown>>;
  /** Keys of the segments the profile is a member of now. */
  readonly segments: readonly string[] | ReadonlySet<string>;
  /** What this profile was sent recently, in any order (`DeliveryHistory` keeps it sorted by time). */
  readonly deliveries: readonly DeliveryRecord[];
  /** Hash of the rendered content of the message being decided, for content de-duplication. */
  readonly contentHash?: string | null;
  /** Token buckets of the providers, by provider name; a provider missing here has a full bucket. */
  readonly providers?: Readonly<Record<string, TokenBucket>>;
}

/** One message sent to the profile (from a `Message Sent` event). */
export interface DeliveryRecord {
  readonly channel: Channel;
  readonly category: MessageCategory;
  readonly topic: string | null;
  readonly template: string;
  /** Key of the journey that sent it, null for messages outside journeys. */
  readonly journey: string | null;
  readonly contentHash: string | null;
  /** The outbound message id (the idempotency key), when known. */
  readonly messageId: string | null;
  /** When it was sent, ms since the epoch. */
  readonly at: number;
}

/** The state of one provider's token bucket: `tokens` left as of `updatedAt`. */
export interface TokenBucket {
  readonly tokens: number;
  readonly updatedAt: number;
}
