import { CHANNELS, type Channel, type MessageCategory } from '../channels/outbound.ts';
import { parseDuration } from '../segments/duration.ts';
import { parseClock } from './parse-rules.ts';
import type {
  CapAction,
  ConsentRules,
  DedupeMatch,
  GuardrailRules,
  RuleBase,
  TimeZoneRules,
} from './rules.ts';
import type { BucketLimit } from './token-bucket.ts';

/**
 * Rules compiled once for deciding many times: durations in milliseconds, clock times in minutes,
 * scopes as sets, and each kind of rule pre-sorted into one list per (channel, category), so a
 * decision only looks at the rules that can apply to its message.
 */
export interface CompiledRule {
  readonly id: string;
  readonly channels: ReadonlySet<Channel> | null;
  readonly categories: ReadonlySet<MessageCategory>;
  readonly topics: ReadonlySet<string> | null;
  readonly journeys: ReadonlySet<string> | null;
}

export interface CompiledSuppression extends CompiledRule {
  readonly segments: readonly string[];
}

export interface CompiledDedupe extends CompiledRule {
  readonly windowMs: number;
  readonly window: string;
  readonly match: DedupeMatch;
}

export interface CompiledCap extends CompiledRule {
  readonly max: number;
  readonly windowMs: number;
  readonly window: string;
  readonly perChannel: boolean;
  readonly perJourney: boolean;
  readonly onExceed: CapAction;
}

export interface CompiledQuietHours extends CompiledRule {
  readonly start: number;
  readonly end: number;
  readonly startText: string;
  readonly endText: string;
}

export interface CompiledSendTime extends CompiledRule {
  readonly trait: string;
  readonly maxDelayMs: number;
}

export interface CompiledRateLimit extends CompiledRule, BucketLimit {
  readonly provider: string;
  readonly per: string;
}

/** The rules that can apply to messages of one channel and category. */
export interface RuleSet {
  readonly suppression: readonly CompiledSuppression[];
  /** Every segment the suppression rules of this set name. */
  readonly suppressionSegments: ReadonlySet<string>;
  readonly dedupe: readonly CompiledDedupe[];
  readonly caps: readonly CompiledCap[];
  /** The longest cap window of this set: deliveries older than that count for no cap here. */
  readonly capHorizonMs: number;
  readonly quietHours: readonly CompiledQuietHours[];
  readonly sendTime: CompiledSendTime | null;
  readonly rateLimits: readonly CompiledRateLimit[];
}

export interface CompiledGuardrails {
  /** The rules this was compiled from. */
  readonly rules: GuardrailRules;
  readonly timeZone: TimeZoneRules;
  readonly consent: ConsentRules;
  /** The longest cap or de-duplication window: how far back the delivery history must reach. */
  readonly retentionMs: number;
  /** Every rate limit, for taking tokens after a send. */
  readonly rateLimits: readonly CompiledRateLimit[];
  ruleSet(channel: Channel, category: MessageCategory): RuleSet;
}

const CATEGORIES: readonly MessageCategory[] = ['transactional', 'promotional'];

const ms = (text: string): number => {
  const v = parseDuration(text);
  if (v === null) throw new Error(`unchecked duration '${text}'`);
  return v;
};
const minutes = (text: string): number => {
  const v = parseClock(text);
  if (v === null) throw new Error(`unchecked clock time '${text}'`);
  return v;
};

function base(r: RuleBase): CompiledRule {
  return {
    id: r.id,
    channels: r.channels === null ? null : new Set(r.channels),
    categories: new Set(r.categories),
    topics: r.topics === null ? null : new Set(r.topics),
    journeys: r.journeys === null ? null : new Set(r.journeys),
  };
}

/** True when a rule's topic and journey scope admit a message (channel and category are pre-sorted). */
export function inScope(r: CompiledRule, topic: string | undefined, journey: string | null): boolean {
  if (r.topics !== null && (topic === undefined || !r.topics.has(topic))) return false;
  if (r.journeys !== null && (journey === null || !r.journeys.has(journey))) return false;
  return true;
}

const covers = (r: CompiledRule, channel: Channel, category: MessageCategory): boolean =>
  (r.channels === null || r.channels.has(channel)) && r.categories.has(category);

/** Compiles checked rules (from `checkRules` / `parseRules`). */
export function compileRules(rules: GuardrailRules): CompiledGuardrails {
  const suppression = rules.suppression.map((r) => ({ ...base(r), segments: r.segments }));
  const dedupe = rules.dedupe.map((r) => ({
    ...base(r),
    window: r.window,
    windowMs: ms(r.window),
    match: r.match,
  }));
  const caps = rules.frequencyCaps.map((r) => ({
    ...base(r),
    max: r.max,
    window: r.window,
    windowMs: ms(r.window),
    perChannel: r.perChannel,
    perJourney: r.perJourney,
    onExceed: r.onExceed,
  }));
  const quietHours = rules.quietHours.map((r) => ({
    ...base(r),
    start: minutes(r.start),
    end: minutes(r.end),
    startText: r.start,
    endText: r.end,
  }));
  const sendTime =
    rules.sendTime === null
      ? null
      : { ...base(rules.sendTime), trait: rules.sendTime.trait, maxDelayMs: ms(rules.sendTime.maxDelay) };
  const rateLimits = rules.rateLimits.map((r) => ({
    ...base(r),
    provider: r.provider,
    rate: r.rate,
    per: r.per,
    perMs: ms(r.per),
    burst: r.burst,
  }));

  const sets = new Map<string, RuleSet>();
  for (const channel of CHANNELS) {
    for (const category of CATEGORIES) {
      const pick = <T extends CompiledRule>(list: readonly T[]) =>
        list.filter((r) => covers(r, channel, category));
      const setCaps = pick(caps);
      const setSuppression = pick(suppression);
      sets.set(`${channel}/${category}`, {
        suppression: setSuppression,
        suppressionSegments: new Set(setSuppression.flatMap((r) => r.segments)),
        dedupe: pick(dedupe),
        caps: setCaps,
        capHorizonMs: Math.max(0, ...setCaps.map((c) => c.windowMs)),
        quietHours: pick(quietHours),
        sendTime: sendTime !== null && covers(sendTime, channel, category) ? sendTime : null,
        rateLimits: pick(rateLimits),
      });
    }
  }
  const retentionMs = Math.max(0, ...caps.map((c) => c.windowMs), ...dedupe.map((d) => d.windowMs));
  return {
    rules,
    timeZone: rules.timeZone,
    consent: rules.consent,
    retentionMs,
    rateLimits,
    ruleSet(channel, category) {
      const s = sets.get(`${channel}/${category}`);
      if (s === undefined) throw new Error(`unknown channel or category: ${channel}/${category}`);
      return s;
    },
  };
}
