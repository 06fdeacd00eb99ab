import type { Channel, OutboundMessage } from '../channels/outbound.ts';
import { type SkipDecision, skip } from './decision.ts';
import type { ConsentRules } from './rules.ts';

/**
 * Consent, as the guardrails read it from the profile's consent trait (`consent` by default):
 *
 * ```json
 * { "email": { "promotional": true, "topics": { "newsletter": false } },
 *   "sms":   { "all": false },
 *   "push":  { "bounced": true } }
 * ```
 *
 * Per channel, every field optional:
 * - `all: false` — unsubscribed from the channel entirely: nothing is sent on it, not even
 *   transactional messages (`all: true` changes nothing; it is the absence of a block);
 * - `bounced: true` (or `complained: true`) — the address bounced hard or marked a message as spam:
 *   nothing is sent on it until the flag is cleared;
 * - `promotional: true | false` — explicit consent to, or refusal of, promotional messages;
 * - `topics: { name: true | false }` — subscription groups; a topic's answer wins over
 *   `promotional` for messages of that topic, except that `promotional: false` refuses every topic.
 *
 * When the profile says nothing for a promotional message, the workspace policy decides: a topic
 * with a policy of its own follows it (a `denied` topic needs its own opt-in, whatever
 * `promotional` says), otherwise `promotional: true` is consent, otherwise the channel's default,
 * otherwise the promotional default.
 */
export interface ChannelConsent {
  readonly all?: boolean;
  readonly bounced?: boolean;
  readonly complained?: boolean;
  readonly promotional?: boolean;
  readonly topics?: Readonly<Record<string, boolean>>;
}

/** The consent trait: one entry per channel. */
export type ConsentTrait = Readonly<Partial<Record<Channel, ChannelConsent>>>;

const asObject = (v: unknown): Record<string, unknown> | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** The rule id consent decisions carry. */
export const CONSENT_RULE = 'consent';

/**
 * Null when the profile's consent allows the message, otherwise the skip decision. Consent values
 * that are not booleans are treated as absent (so a malformed trait falls back to the policy).
 */
export function checkConsent(
  rules: ConsentRules,
  message: Pick<OutboundMessage, 'channel' | 'category' | 'topic'>,
  consentTrait: unknown,
): SkipDecision | null {
  const channel = message.channel;
  const entry = asObject(asObject(consentTrait)?.[channel]);
  if (entry !== null) {
    if (entry.all === false) {
      return skip(
        'consent_unsubscribed',
        CONSENT_RULE,
        `the profile unsubscribed from every ${channel} message`,
      );
    }
    if (entry.bounced === true || entry.complained === true) {
      const what = entry.bounced === true ? 'bounced' : 'reported a complaint';
      return skip(
        'consent_bounced',
        CONSENT_RULE,
        `the profile's ${channel} address ${what}; nothing is sent on it`,
      );
    }
  }
  if (message.category === 'transactional') return null;

  const promotional = entry?.promotional;
  if (promotional === false) {
    return skip('consent_denied', CONSENT_RULE, `the profile refused promotional ${channel} messages`);
  }
  const topic = message.topic;
  if (topic !== undefined) {
    const answer = asObject(entry?.topics)?.[topic];
    if (answer === false) {
      return skip(
        'consent_topic_denied',
        CONSENT_RULE,
        `the profile unsubscribed from topic '${topic}' on ${channel}`,
      );
    }
    if (answer === true) return null;
  }
  const topicPolicy = topic !== undefined ? rules.topics[topic] : undefined;
  if (topicPolicy === 'granted') return null;
  if (topicPolicy === undefined && promotional === true) return null;
  const policy = topicPolicy ?? rules.channels[channel] ?? rules.promotional;
  if (policy === 'granted') return null;
  const source =
    topicPolicy !== undefined
      ? `topic '${topic}'`
      : rules.channels[channel] !== undefined
        ? channel
        : 'promotional messages';
  return skip(
    'consent_missing',
    CONSENT_RULE,
    `promotional ${channel}${topic !== undefined ? ` on topic '${topic}'` : ''} needs explicit consent (workspace policy for ${source}: denied) and the profile gave none`,
  );
}
