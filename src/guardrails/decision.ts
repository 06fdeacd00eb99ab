/**
 * What the guardrails answer for one message: send it, skip it for good, or defer it to a later
 * instant. Every answer names a machine-readable reason code and a sentence a marketer can read
 * on the profile's timeline.
 */

/** Why a message is skipped. */
export const SKIP_REASONS = [
  'channel_suppressed',
  'consent_denied',
  'consent_topic_denied',
  'consent_missing',
  'suppressed',
  'already_sent',
  'duplicate',
  'frequency_cap',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Why a message waits. */
export const DEFER_REASONS = ['frequency_cap', 'quiet_hours', 'send_time', 'rate_limit'] as const;
export type DeferReason = (typeof DEFER_REASONS)[number];

export type ReasonCode = SkipReason | DeferReason | 'allowed';

export interface SendDecision {
  readonly action: 'send';
  readonly reason: 'allowed';
  readonly message: string;
}

export interface SkipDecision {
  readonly action: 'skip';
  readonly reason: SkipReason;
  /** The id of the rule that decided (`consent`, `frequencyCaps[0]`, or the rule's own `id`). */
  readonly rule: string;
  readonly message: string;
}

export interface DeferDecision {
  readonly action: 'defer';
  /** When to decide again (ms since the epoch); the message is not sent before. */
  readonly until: number;
  readonly reason: DeferReason;
  readonly rule: string;
  readonly message: string;
}

export type Decision = SendDecision | SkipDecision | DeferDecision;

/** The one "send" answer (shared: deciding to send allocates nothing). */
export const SEND: SendDecision = Object.freeze({
  action: 'send',
  reason: 'allowed',
  message: 'every guardrail allows it',
});

export const skip = (reason: SkipReason, rule: string, message: string): SkipDecision => ({
  action: 'skip',
  reason,
  rule,
  message: `${reason}: ${message}`,
});

export const defer = (until: number, reason: DeferReason, rule: string, message: string): DeferDecision => ({
  action: 'defer',
  until,
  reason,
  rule,
  message: `${reason}: ${message}`,
});

export const isoTime = (t: number): string => new Date(t).toISOString();
