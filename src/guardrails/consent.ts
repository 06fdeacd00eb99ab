import type { OutboundMessage } from '../channels/outbound.ts';
import { type SkipDecision, skip } from './decision.ts';
import type { ConsentRules } from './rules.ts';

/**
 * Consent, as the guardrails read it from the profile's consent trait (`consent` by default; the
 * shape is `ConsentTrait`, defined with the channels that write it):
 *
 * ```json
 * { "email": { "promotional": true, "topics": { "newsletter": false } },
 *   "sms":   { "suppressed": true, "reason": "STOP" } }
 * ```
 *
 * Per channel, every field optional:
 * - `suppressed: true` — a hard bounce, a spam complaint or an SMS `STOP`: nothing at all is sent
 *   on the channel, not even transactional messages, until the flag is cleared;
 * - `topics: { name: false }` — unsubscribed from a subscription group: nothing on that topic,
 *   promotional or not; `true` is an explicit opt-in to the topic;
 * - `promotional: true | false` — explicit consent to, or refusal of, promotional messages on the
 *   channel; `false` refuses every promotional topic too.
 *
 * When the profile says nothing for a promotional message, the workspace policy decides: a topic
 * with a policy of its own follows it (a `denied` topic needs its own opt-in, whatever
 * `promotional` says), otherwise `promotional: true` is consent, otherwise the channel's default,
 * otherwise the promotional default. Values that are not booleans count as absent.
 */
export type { ChannelConsent, ConsentTrait } from '../channels/consent.ts';

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
  if (entry?.suppressed === true) {
    const why = typeof entry.reason === 'string' ? ` (${entry.reason})` : '';
    return skip(
      'channel_suppressed',
      CONSENT_RULE,
      `${channel} is suppressed for the profile${why}; nothing is sent on it`,
    );
  }
  const topic = message.topic;
  const answer = topic !== undefined ? asObject(entry?.topics)?.[topic] : undefined;
  if (answer === false) {
    return skip(
      'consent_topic_denied',
      CONSENT_RULE,
      `the profile unsubscribed from topic '${topic}' on ${channel}`,
    );
  }
  if (message.category === 'transactional') return null;

  const promotional = entry?.promotional;
  if (promotional === false) {
    return skip('consent_denied', CONSENT_RULE, `the profile refused promotional ${channel} messages`);
  }
  if (answer === true) return null;
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
