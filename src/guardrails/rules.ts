import type { Channel, MessageCategory } from '../channels/outbound.ts';

/**
 * A workspace's guardrail rules, as validated from the JSON or YAML a user stores (see
 * parse-rules.ts for the grammar and docs/guardrails.md for what each rule does). Durations stay in
 * their written form (`"1d"`) so the rules read back as they were written; `compileRules` turns
 * them into milliseconds once.
 */
export interface GuardrailRules {
  readonly timeZone: TimeZoneRules;
  readonly consent: ConsentRules;
  readonly suppression: readonly SuppressionRule[];
  readonly dedupe: readonly DedupeRule[];
  readonly frequencyCaps: readonly FrequencyCapRule[];
  readonly quietHours: readonly QuietHoursRule[];
  readonly sendTime: SendTimeRule | null;
  readonly rateLimits: readonly RateLimitRule[];
}

/** Which messages a rule applies to. Null (left out) means every one. */
export interface RuleScope {
  readonly channels: readonly Channel[] | null;
  readonly categories: readonly MessageCategory[];
  readonly topics: readonly string[] | null;
  readonly journeys: readonly string[] | null;
}

export interface TimeZoneRules {
  /** The trait holding the profile's IANA time zone. */
  readonly trait: string;
  /** The zone for profiles without one (or with one this runtime does not know). */
  readonly default: string;
}

export const CONSENT_POLICIES = ['granted', 'denied'] as const;
/** What a missing consent means: `granted` (opt-out model) or `denied` (explicit opt-in needed). */
export type ConsentPolicy = (typeof CONSENT_POLICIES)[number];

export interface ConsentRules {
  /** The profile trait holding consent: `{ email: { all, bounced, promotional, topics: {…} }, … }`. */
  readonly trait: string;
  /** Default for promotional messages when the profile says nothing. */
  readonly promotional: ConsentPolicy;
  /** Per-channel defaults, over `promotional`. */
  readonly channels: Readonly<Partial<Record<Channel, ConsentPolicy>>>;
  /** Per-topic defaults, over the channel's. */
  readonly topics: Readonly<Record<string, ConsentPolicy>>;
}

export interface RuleBase extends RuleScope {
  /** Names the rule in decisions; defaults to its place (`frequencyCaps[0]`). */
  readonly id: string;
}

/** Skips messages to members of any of `segments` (per journey when `journeys` is set). */
export interface SuppressionRule extends RuleBase {
  readonly segments: readonly string[];
}

export const DEDUPE_MATCHES = ['content', 'template'] as const;
export type DedupeMatch = (typeof DEDUPE_MATCHES)[number];

/** Skips a message identical to one sent to the same profile within `window`. */
export interface DedupeRule extends RuleBase {
  readonly window: string;
  /** `content`: same template and same content hash; `template`: same template. */
  readonly match: DedupeMatch;
}

export const CAP_ACTIONS = ['skip', 'defer'] as const;
export type CapAction = (typeof CAP_ACTIONS)[number];

/** At most `max` messages in scope over any rolling `window`. */
export interface FrequencyCapRule extends RuleBase {
  readonly max: number;
  readonly window: string;
  /** Count each channel on its own rather than across `channels`. */
  readonly perChannel: boolean;
  /** Count each journey on its own. */
  readonly perJourney: boolean;
  /** Skip the message (default) or defer it to when the window has room. */
  readonly onExceed: CapAction;
}

/** No message in scope between `start` and `end` (`HH:MM`, the profile's wall clock). */
export interface QuietHoursRule extends RuleBase {
  readonly start: string;
  readonly end: string;
}

/** Waits for the profile's best hour (a trait such as `best_hour`, 0–23) up to `maxDelay`. */
export interface SendTimeRule extends RuleBase {
  readonly trait: string;
  readonly maxDelay: string;
}

/** A provider sends at most `rate` messages per `per`, with bursts up to `burst`. */
export interface RateLimitRule extends RuleBase {
  readonly provider: string;
  readonly rate: number;
  readonly per: string;
  readonly burst: number;
}

const PROMOTIONAL: readonly MessageCategory[] = ['promotional'];
const EVERY_CATEGORY: readonly MessageCategory[] = ['transactional', 'promotional'];
const scope = (categories: readonly MessageCategory[], channels: readonly Channel[] | null = null) => ({
  channels,
  categories,
  topics: null,
  journeys: null,
});

/**
 * The rules of a workspace that stored none, and the value of each section left out of stored
 * rules: promotional messages at most one a day and three a week across all channels, never
 * between 21:00 and 08:00 on channels that reach a person's phone or inbox, identical content at
 * most once a day, e-mail and push on an opt-out basis and SMS on explicit opt-in.
 */
export const DEFAULT_RULES: GuardrailRules = {
  timeZone: { trait: 'timezone', default: 'UTC' },
  consent: {
    trait: 'consent',
    promotional: 'granted',
    channels: { sms: 'denied' },
    topics: {},
  },
  suppression: [],
  dedupe: [{ id: 'dedupe[0]', window: '1d', match: 'content', ...scope(EVERY_CATEGORY) }],
  frequencyCaps: [
    {
      id: 'frequencyCaps[0]',
      max: 1,
      window: '1d',
      perChannel: false,
      perJourney: false,
      onExceed: 'skip',
      ...scope(PROMOTIONAL),
    },
    {
      id: 'frequencyCaps[1]',
      max: 3,
      window: '7d',
      perChannel: false,
      perJourney: false,
      onExceed: 'skip',
      ...scope(PROMOTIONAL),
    },
  ],
  quietHours: [
    {
      id: 'quietHours[0]',
      start: '21:00',
      end: '08:00',
      ...scope(PROMOTIONAL, ['email', 'sms', 'push', 'webpush']),
    },
  ],
  sendTime: { id: 'sendTime', trait: 'best_hour', maxDelay: '24h', ...scope(PROMOTIONAL) },
  rateLimits: [],
};
