import type { Channel, MessageCategory } from './outbound.ts';

/**
 * The single definition of the `consent` profile trait: what a person agreed to receive, per
 * channel. Feedback (unsubscribes, bounces, complaints, SMS `STOP`) writes it through an identify
 * event; the guardrails read it before every send.
 *
 * ```json
 * { "email": { "promotional": false, "topics": { "newsletter": false } },
 *   "sms":   { "suppressed": true, "reason": "STOP" } }
 * ```
 *
 * - `promotional: false` — no promotional message on that channel (any topic). Absent means allowed.
 * - `topics.{name}: false` — nothing on that topic (promotional or not); `true` re-subscribes it.
 * - `suppressed: true` — nothing at all goes to that channel, not even transactional messages:
 *   set by a hard bounce, a spam complaint or an SMS `STOP` (the address is dead or refuses us).
 */
export interface ChannelConsent {
  readonly promotional?: boolean;
  readonly topics?: Readonly<Record<string, boolean>>;
  readonly suppressed?: boolean;
  /** Why the channel is suppressed (`hard_bounce`, `complaint`, `STOP`). */
  readonly reason?: string;
}

/** The value of the `consent` trait. */
export type ConsentTrait = Readonly<Partial<Record<Channel, ChannelConsent>>>;

/** The trait key holding the consent object. */
export const CONSENT_TRAIT = 'consent';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads the `consent` trait from a profile's traits, ignoring anything not in the shape. */
export function readConsent(traits: Readonly<Record<string, unknown>>): ConsentTrait {
  const raw = traits[CONSENT_TRAIT];
  if (!isObject(raw)) return {};
  const out: Record<string, ChannelConsent> = {};
  for (const [channel, value] of Object.entries(raw)) {
    if (!isObject(value)) continue;
    const c: { -readonly [K in keyof ChannelConsent]: ChannelConsent[K] } = {};
    if (typeof value.promotional === 'boolean') c.promotional = value.promotional;
    if (typeof value.suppressed === 'boolean') c.suppressed = value.suppressed;
    if (typeof value.reason === 'string') c.reason = value.reason;
    if (isObject(value.topics)) {
      const topics: Record<string, boolean> = {};
      for (const [t, v] of Object.entries(value.topics)) if (typeof v === 'boolean') topics[t] = v;
      c.topics = topics;
    }
    out[channel] = c;
  }
  return out as ConsentTrait;
}

/**
 * The new `consent` trait value after an unsubscribe: with a topic, only that topic is turned
 * off; without one, every promotional message on the channel. Transactional messages (a receipt,
 * a password reset) still go out: unsubscribing is from marketing, not from the service.
 */
export function applyUnsubscribe(
  traits: Readonly<Record<string, unknown>>,
  channel: Channel,
  topic?: string,
): ConsentTrait {
  const consent = readConsent(traits);
  const current = consent[channel] ?? {};
  const next: ChannelConsent =
    topic === undefined
      ? { ...current, promotional: false }
      : { ...current, topics: { ...(current.topics ?? {}), [topic]: false } };
  return { ...consent, [channel]: next };
}

/** The new `consent` trait value after a resubscribe (the reverse of `applyUnsubscribe`). */
export function applyResubscribe(
  traits: Readonly<Record<string, unknown>>,
  channel: Channel,
  topic?: string,
): ConsentTrait {
  const consent = readConsent(traits);
  const current = consent[channel] ?? {};
  const next: ChannelConsent =
    topic === undefined
      ? { ...current, promotional: true }
      : { ...current, topics: { ...(current.topics ?? {}), [topic]: true } };
  return { ...consent, [channel]: next };
}

/**
 * The new `consent` trait value after a hard bounce, a complaint or an SMS `STOP`: the channel is
 * suppressed for every category until an operator (or the person, re-subscribing) clears it.
 */
export function applySuppression(
  traits: Readonly<Record<string, unknown>>,
  channel: Channel,
  reason: string,
): ConsentTrait {
  const consent = readConsent(traits);
  return { ...consent, [channel]: { ...(consent[channel] ?? {}), suppressed: true, reason } };
}

/** Why consent refuses a message, or null when it allows it. */
export function consentRefusal(
  consent: ConsentTrait,
  channel: Channel,
  category: MessageCategory,
  topic?: string,
): string | null {
  const c = consent[channel];
  if (c === undefined) return null;
  if (c.suppressed === true) return `${channel} is suppressed (${c.reason ?? 'suppressed'})`;
  if (topic !== undefined && c.topics?.[topic] === false)
    return `unsubscribed from ${channel} topic ${topic}`;
  if (category === 'promotional' && c.promotional === false)
    return `unsubscribed from promotional ${channel}`;
  return null;
}
