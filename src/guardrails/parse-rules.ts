import { CHANNELS, type Channel, type MessageCategory } from '../channels/outbound.ts';
import { isTimeZone } from '../core/wall-clock.ts';
import { DURATION_HINT, parseDuration } from '../segments/duration.ts';
import {
  CAP_ACTIONS,
  CONSENT_POLICIES,
  type ConsentPolicy,
  type ConsentRules,
  DEDUPE_MATCHES,
  DEFAULT_RULES,
  type DedupeRule,
  type FrequencyCapRule,
  type GuardrailRules,
  type QuietHoursRule,
  type RateLimitRule,
  type RuleBase,
  type SendTimeRule,
  type SuppressionRule,
  type TimeZoneRules,
} from './rules.ts';

/**
 * Checks guardrail rules as a user writes them (JSON, or YAML parsed to the same values) and fills
 * in the defaults. Every error names the path of the offending field (`frequencyCaps[2].window`).
 * A section left out takes its default (see `DEFAULT_RULES`); an empty list turns a kind of rule
 * off; `sendTime: null` turns send-time optimisation off.
 */

export interface RuleError {
  readonly path: string;
  readonly message: string;
}

export type CheckedRules = { ok: true; rules: GuardrailRules } | { ok: false; errors: RuleError[] };

/** Thrown when stored or submitted rules are not valid; `errors` names each bad path. */
export class InvalidRulesError extends Error {
  override name = 'InvalidRulesError';
  constructor(readonly errors: readonly RuleError[]) {
    super(errors.map((e) => (e.path === '' ? e.message : `${e.path} ${e.message}`)).join('; '));
  }
}

const CATEGORIES: readonly MessageCategory[] = ['transactional', 'promotional'];
const SECTIONS = [
  'timeZone',
  'consent',
  'suppression',
  'dedupe',
  'frequencyCaps',
  'quietHours',
  'sendTime',
  'rateLimits',
] as const;
const SCOPE_KEYS = ['id', 'channels', 'categories', 'topics', 'journeys'] as const;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;
const NAME_PATTERN = /^[^\s].{0,199}$/;
const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;
/** Enough for any real policy; keeps one decision's cost bounded. */
export const MAX_RULES = 1000;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown): string =>
  v === undefined
    ? 'nothing'
    : v === null
      ? 'null'
      : Array.isArray(v)
        ? 'an array'
        : typeof v === 'object'
          ? 'an object'
          : JSON.stringify(v);
const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

/** Minutes since midnight of an `HH:MM` clock time, or null. */
export function parseClock(text: string): number | null {
  const m = CLOCK.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

class Checker {
  readonly errors: RuleError[] = [];
  readonly ids = new Map<string, string>();
  rules = 0;

  fail(path: string, message: string): null {
    this.errors.push({ path, message });
    return null;
  }

  keys(o: Obj, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) {
        this.fail(join(path, k), `is not an allowed key here (allowed: ${allowed.join(', ')})`);
      }
    }
  }

  name(v: unknown, path: string, what: string): string | null {
    if (typeof v !== 'string' || !NAME_PATTERN.test(v)) {
      return this.fail(path, `must be ${what}: a non-empty string of at most 200 characters`);
    }
    return v;
  }

  names(v: unknown, path: string, what: string, required: boolean): string[] | null | undefined {
    if (v === undefined && !required) return undefined;
    if (!Array.isArray(v) || v.length === 0) {
      return this.fail(path, `must be a non-empty array of ${what}, not ${describe(v)}`);
    }
    const out: string[] = [];
    for (const [i, x] of v.entries()) {
      const n = this.name(x, `${path}[${i}]`, what);
      if (n !== null) out.push(n);
    }
    return out.length === v.length ? out : null;
  }

  oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T | null {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      return this.fail(path, `must be one of ${allowed.join(', ')}, not ${describe(v)}`);
    }
    return v as T;
  }

  listOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T[] | null {
    if (!Array.isArray(v) || v.length === 0) {
      return this.fail(path, `must be a non-empty array of ${allowed.join(', ')}, not ${describe(v)}`);
    }
    const out: T[] = [];
    let ok = true;
    for (const [i, x] of v.entries()) {
      const one = this.oneOf(x, `${path}[${i}]`, allowed);
      if (one === null) ok = false;
      else if (!out.includes(one)) out.push(one);
    }
    return ok ? out : null;
  }

  duration(v: unknown, path: string): string | null {
    return parseDuration(v) === null
      ? this.fail(path, `${DURATION_HINT}, not ${describe(v)}`)
      : (v as string);
  }

  positive(v: unknown, path: string, integer: boolean, max: number): number | null {
    const ok = typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= max;
    if (!ok || (integer && !Number.isInteger(v))) {
      return this.fail(path, `must be a ${integer ? 'whole ' : ''}number above 0 and at most ${max}`);
    }
    return v as number;
  }

  bool(v: unknown, path: string, fallback: boolean): boolean {
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.fail(path, `must be true or false, not ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  /** The common part of every rule: id and scope. Null when any of it is wrong. */
  base(o: Obj, path: string, defaultCategories: readonly MessageCategory[]): RuleBase | null {
    const before = this.errors.length;
    let id = path;
    if (o.id !== undefined) {
      if (typeof o.id !== 'string' || !ID_PATTERN.test(o.id)) {
        this.fail(
          join(path, 'id'),
          'must be 1–100 letters, digits, "_", "-", "." or ":", starting with a letter or digit',
        );
      } else id = o.id;
    }
    const clash = this.ids.get(id);
    if (clash !== undefined) this.fail(join(path, 'id'), `'${id}' is already the id of ${clash}`);
    else this.ids.set(id, path);
    const channels =
      o.channels === undefined ? null : this.listOf<Channel>(o.channels, join(path, 'channels'), CHANNELS);
    const categories =
      o.categories === undefined
        ? defaultCategories
        : this.listOf<MessageCategory>(o.categories, join(path, 'categories'), CATEGORIES);
    const topics = this.names(o.topics, join(path, 'topics'), 'topic names', false);
    const journeys = this.names(o.journeys, join(path, 'journeys'), 'journey keys', false);
    if (this.errors.length > before || categories === null) return null;
    return { id, channels, categories, topics: topics ?? null, journeys: journeys ?? null };
  }

  list<T>(v: unknown, path: string, each: (o: Obj, path: string) => T | null): T[] | null {
    if (!Array.isArray(v)) return this.fail(path, `must be an array of rules, not ${describe(v)}`);
    const out: T[] = [];
    for (const [i, x] of v.entries()) {
      const p = `${path}[${i}]`;
      if (++this.rules > MAX_RULES) return this.fail(p, `is one rule too many: at most ${MAX_RULES} in all`);
      if (!isObject(x)) {
        this.fail(p, `must be a rule object, not ${describe(x)}`);
        continue;
      }
      const r = each(x, p);
      if (r !== null) out.push(r);
    }
    return out.length === v.length ? out : null;
  }

  timeZone(v: unknown): TimeZoneRules | null {
    const d = DEFAULT_RULES.timeZone;
    if (v === undefined) return d;
    if (!isObject(v))
      return this.fail('timeZone', `must be an object like {"trait": "timezone", "default": "UTC"}`);
    this.keys(v, 'timeZone', ['trait', 'default']);
    const trait = v.trait === undefined ? d.trait : this.name(v.trait, 'timeZone.trait', 'a trait name');
    let zone: string | null = d.default;
    if (v.default !== undefined) {
      zone =
        typeof v.default === 'string' && isTimeZone(v.default)
          ? v.default
          : this.fail(
              'timeZone.default',
              `must be an IANA time zone such as "Europe/Berlin", not ${describe(v.default)}`,
            );
    }
    return trait === null || zone === null ? null : { trait, default: zone };
  }

  policies<K extends string>(
    v: unknown,
    path: string,
    keys: readonly K[] | null,
  ): Partial<Record<K, ConsentPolicy>> | null {
    if (!isObject(v))
      return this.fail(path, `must be an object of granted / denied by name, not ${describe(v)}`);
    const out: Partial<Record<K, ConsentPolicy>> = {};
    let ok = true;
    for (const [k, x] of Object.entries(v)) {
      if (keys !== null && !(keys as readonly string[]).includes(k)) {
        ok = this.fail(join(path, k), `is not a channel (channels: ${keys.join(', ')})`) !== null;
        continue;
      }
      const p = this.oneOf(x, join(path, k), CONSENT_POLICIES);
      if (p === null) ok = false;
      else out[k as K] = p;
    }
    return ok ? out : null;
  }

  consent(v: unknown): ConsentRules | null {
    const d = DEFAULT_RULES.consent;
    if (v === undefined) return d;
    if (!isObject(v)) return this.fail('consent', 'must be an object like {"promotional": "denied"}');
    this.keys(v, 'consent', ['trait', 'promotional', 'channels', 'topics']);
    const trait = v.trait === undefined ? d.trait : this.name(v.trait, 'consent.trait', 'a trait name');
    const promotional =
      v.promotional === undefined
        ? d.promotional
        : this.oneOf(v.promotional, 'consent.promotional', CONSENT_POLICIES);
    const channels =
      v.channels === undefined
        ? d.channels
        : this.policies<Channel>(v.channels, 'consent.channels', CHANNELS);
    const topics =
      v.topics === undefined
        ? d.topics
        : (this.policies<string>(v.topics, 'consent.topics', null) as Record<string, ConsentPolicy> | null);
    if (trait === null || promotional === null || channels === null || topics === null) return null;
    return { trait, promotional, channels, topics };
  }

  suppression(o: Obj, path: string): SuppressionRule | null {
    this.keys(o, path, [...SCOPE_KEYS, 'segments']);
    const base = this.base(o, path, ['promotional']);
    const segments = this.names(o.segments, join(path, 'segments'), 'segment keys', true);
    return base === null || !segments ? null : { ...base, segments };
  }

  dedupe(o: Obj, path: string): DedupeRule | null {
    this.keys(o, path, [...SCOPE_KEYS, 'window', 'match']);
    const base = this.base(o, path, CATEGORIES);
    const window = this.duration(o.window, join(path, 'window'));
    const match =
      o.match === undefined ? 'content' : this.oneOf(o.match, join(path, 'match'), DEDUPE_MATCHES);
    return base === null || window === null || match === null ? null : { ...base, window, match };
  }

  frequencyCap(o: Obj, path: string): FrequencyCapRule | null {
    this.keys(o, path, [...SCOPE_KEYS, 'max', 'window', 'perChannel', 'perJourney', 'onExceed']);
    const base = this.base(o, path, ['promotional']);
    const max = this.positive(o.max, join(path, 'max'), true, 100_000);
    const window = this.duration(o.window, join(path, 'window'));
    const perChannel = this.bool(o.perChannel, join(path, 'perChannel'), false);
    const perJourney = this.bool(o.perJourney, join(path, 'perJourney'), false);
    const onExceed =
      o.onExceed === undefined ? 'skip' : this.oneOf(o.onExceed, join(path, 'onExceed'), CAP_ACTIONS);
    if (base === null || max === null || window === null || onExceed === null) return null;
    return { ...base, max, window, perChannel, perJourney, onExceed };
  }

  clock(v: unknown, path: string): string | null {
    return typeof v === 'string' && parseClock(v) !== null
      ? v
      : this.fail(path, `must be a time of day "HH:MM" (00:00–23:59), not ${describe(v)}`);
  }

  quietHours(o: Obj, path: string): QuietHoursRule | null {
    this.keys(o, path, [...SCOPE_KEYS, 'start', 'end']);
    const base = this.base(o, path, ['promotional']);
    const start = this.clock(o.start, join(path, 'start'));
    const end = this.clock(o.end, join(path, 'end'));
    if (start !== null && start === end) {
      return this.fail(
        join(path, 'end'),
        'must differ from start (quiet hours cannot last no time or all day)',
      );
    }
    return base === null || start === null || end === null ? null : { ...base, start, end };
  }

  sendTime(v: unknown): SendTimeRule | null | undefined {
    if (v === undefined) return DEFAULT_RULES.sendTime;
    if (v === null) return null;
    if (!isObject(v))
      return void this.fail(
        'sendTime',
        'must be an object like {"trait": "best_hour", "maxDelay": "24h"} or null',
      );
    this.keys(v, 'sendTime', [...SCOPE_KEYS, 'trait', 'maxDelay']);
    const base = this.base(v, 'sendTime', ['promotional']);
    const trait = v.trait === undefined ? 'best_hour' : this.name(v.trait, 'sendTime.trait', 'a trait name');
    const maxDelay = v.maxDelay === undefined ? '24h' : this.duration(v.maxDelay, 'sendTime.maxDelay');
    if (base === null || trait === null || maxDelay === null) return undefined;
    return { ...base, trait, maxDelay };
  }

  rateLimit(o: Obj, path: string): RateLimitRule | null {
    this.keys(o, path, [...SCOPE_KEYS, 'provider', 'rate', 'per', 'burst']);
    const base = this.base(o, path, CATEGORIES);
    const provider = this.name(o.provider, join(path, 'provider'), 'a provider name');
    const rate = this.positive(o.rate, join(path, 'rate'), false, 1_000_000);
    const per = o.per === undefined ? '1s' : this.duration(o.per, join(path, 'per'));
    const burst =
      o.burst === undefined
        ? rate === null
          ? null
          : Math.max(1, rate)
        : this.positive(o.burst, join(path, 'burst'), false, 1_000_000);
    if (burst !== null && burst < 1) return this.fail(join(path, 'burst'), 'must be at least 1');
    if (base === null || provider === null || rate === null || per === null || burst === null) return null;
    return { ...base, provider, rate, per, burst };
  }
}

/** Checks rules as written and fills in defaults; on failure, every bad path with a message. */
export function checkRules(input: unknown): CheckedRules {
  const c = new Checker();
  if (!isObject(input)) {
    c.fail('', `the rules must be an object with any of ${SECTIONS.join(', ')}, not ${describe(input)}`);
    return { ok: false, errors: c.errors };
  }
  c.keys(input, '', SECTIONS);
  const section = <T>(
    key: (typeof SECTIONS)[number],
    each: (o: Obj, p: string) => T | null,
    fallback: readonly T[],
  ) => (input[key] === undefined ? fallback : c.list(input[key], key, each));
  const timeZone = c.timeZone(input.timeZone);
  const consent = c.consent(input.consent);
  const suppression = section('suppression', (o, p) => c.suppression(o, p), DEFAULT_RULES.suppression);
  const dedupe = section('dedupe', (o, p) => c.dedupe(o, p), DEFAULT_RULES.dedupe);
  const frequencyCaps = section('frequencyCaps', (o, p) => c.frequencyCap(o, p), DEFAULT_RULES.frequencyCaps);
  const quietHours = section('quietHours', (o, p) => c.quietHours(o, p), DEFAULT_RULES.quietHours);
  const sendTime = c.sendTime(input.sendTime);
  const rateLimits = section('rateLimits', (o, p) => c.rateLimit(o, p), DEFAULT_RULES.rateLimits);
  if (
    c.errors.length > 0 ||
    timeZone === null ||
    consent === null ||
    suppression === null ||
    dedupe === null ||
    frequencyCaps === null ||
    quietHours === null ||
    sendTime === undefined ||
    rateLimits === null
  ) {
    return { ok: false, errors: c.errors };
  }
  return {
    ok: true,
    rules: { timeZone, consent, suppression, dedupe, frequencyCaps, quietHours, sendTime, rateLimits },
  };
}

/** Like `checkRules`, throwing `InvalidRulesError` on failure. */
export function parseRules(input: unknown): GuardrailRules {
  const checked = checkRules(input);
  if (!checked.ok) throw new InvalidRulesError(checked.errors);
  return checked.rules;
}
