/**
 * Journey definitions: the JSON/YAML format of docs/journeys.md, checked into a compiled form with
 * every problem named by its path (`nodes.ask-review.next: there is no node "done"`).
 */
import { CHANNELS, type Channel, type MessageCategory } from '../channels/outbound.ts';

type JsonValue = unknown;

import {
  type Checked,
  type Condition,
  checkConditionAt,
  checkWhere,
  type DefinitionError,
  type EventMatcher,
  KEY_HINT,
  KEY_PATTERN,
  type PropertyPath,
  propertyPath,
} from '../segments/definition.ts';
import { DURATION_HINT, parseDuration } from '../segments/duration.ts';

export const NODE_TYPES = ['wait', 'wait_for', 'branch', 'split', 'send', 'update', 'exit'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

/** Where a date comes from: a profile trait or a computed trait. */
export interface DateSource {
  readonly from: 'trait' | 'computed';
  readonly name: string;
  /** Added to the date (negative: before it). */
  readonly offsetMs: number;
  /** Time of day in the profile's time zone, or null for the date's own time. */
  readonly at: TimeOfDay | null;
  /** Every year on the date (birthdays, renewals), rather than once. */
  readonly yearly: boolean;
}

export interface TimeOfDay {
  readonly hour: number;
  readonly minute: number;
}

export type Trigger =
  | { readonly kind: 'event'; readonly match: EventMatcher }
  | { readonly kind: 'segment'; readonly key: string; readonly on: 'entered' | 'exited' }
  | { readonly kind: 'date'; readonly date: DateSource };

/** Arriving event's property must equal the trigger event's property. */
export interface Correlation {
  readonly arriving: PropertyPath;
  readonly trigger: PropertyPath;
}

export type ExitRule =
  | {
      readonly kind: 'event';
      readonly match: EventMatcher;
      readonly correlate: readonly Correlation[];
      readonly reason: string;
    }
  | { readonly kind: 'segment'; readonly key: string; readonly reason: string };

export type WaitUntil =
  | { readonly kind: 'duration'; readonly ms: number }
  | { readonly kind: 'time_of_day'; readonly at: TimeOfDay; readonly weekdays: readonly number[] | null }
  | { readonly kind: 'date'; readonly date: DateSource };

export type JourneyNode =
  | { readonly type: 'wait'; readonly id: string; readonly until: WaitUntil; readonly next: string | null }
  | {
      readonly type: 'wait_for';
      readonly id: string;
      readonly match: EventMatcher;
      readonly correlate: readonly Correlation[];
      readonly timeoutMs: number;
      readonly arrived: string | null;
      readonly timedOut: string | null;
    }
  | {
      readonly type: 'branch';
      readonly id: string;
      readonly branches: readonly { readonly condition: Condition; readonly next: string | null }[];
      readonly otherwise: string | null;
    }
  | {
      readonly type: 'split';
      readonly id: string;
      readonly variants: readonly {
        readonly name: string;
        readonly percent: number;
        readonly next: string | null;
      }[];
    }
  | {
      readonly type: 'send';
      readonly id: string;
      readonly channel: Channel;
      readonly template: string;
      readonly category: MessageCategory;
      readonly topic: string | null;
      readonly next: string | null;
    }
  | {
      readonly type: 'update';
      readonly id: string;
      readonly set: Readonly<Record<string, JsonValue>>;
      readonly increment: Readonly<Record<string, number>>;
      readonly next: string | null;
    }
  | { readonly type: 'exit'; readonly id: string };

export type Reentry =
  | { readonly kind: 'once' }
  | { readonly kind: 'always' }
  | { readonly kind: 'cooldown'; readonly ms: number };

export interface Journey {
  readonly key: string;
  readonly name: string;
  readonly description: string;
  readonly trigger: Trigger;
  readonly start: string;
  readonly nodes: ReadonlyMap<string, JourneyNode>;
  readonly goal: { readonly match: EventMatcher; readonly withinMs: number | null } | null;
  readonly exits: readonly ExitRule[];
  readonly reentry: Reentry;
  /** Percent of entering profiles held out as the control group (0 for none). */
  readonly controlPercent: number;
  /** At most this many runs of the journey active at once per profile. */
  readonly maxConcurrent: number;
}

/** What a definition may refer to outside itself; unknown references are errors. */
export interface References {
  segmentExists(key: string): boolean;
  computedExists(key: string): boolean;
  /** Null when templates are not known here (no check). */
  templateExists: ((key: string) => boolean) | null;
}

export const ANY_REFERENCE: References = {
  segmentExists: () => true,
  computedExists: () => true,
  templateExists: null,
};

const TOP_KEYS = [
  'key',
  'name',
  'description',
  'trigger',
  'start',
  'nodes',
  'goal',
  'exit',
  'reentry',
  'control',
  'maxConcurrent',
];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const MAX_NODES = 500;
const MAX_TRAIT_UPDATES = 50;

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

class Checker {
  readonly errors: DefinitionError[] = [];
  constructor(readonly refs: References) {}

  fail(path: string, message: string): null {
    this.errors.push({ path, message });
    return null;
  }

  keys(o: Obj, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k))
        this.fail(join(path, k), `is not an allowed key here (allowed: ${allowed.join(', ')})`);
    }
  }

  string(v: unknown, path: string, what: string, max = 200): string | null {
    if (typeof v !== 'string' || v.trim() === '')
      return this.fail(path, `must be a non-empty string (${what}), not ${describe(v)}`);
    if (v.length > max) return this.fail(path, `must be at most ${max} characters`);
    return v;
  }

  duration(v: unknown, path: string): number | null {
    const ms = parseDuration(v);
    return ms === null ? this.fail(path, `${DURATION_HINT}, not ${describe(v)}`) : ms;
  }

  /** A signed duration: "-3d", "+2h", "0d" or "3d". */
  offset(v: unknown, path: string): number | null {
    if (v === undefined) return 0;
    if (typeof v === 'string') {
      const t = v.trim();
      if (/^[+-]?0+(ms|s|m|h|d|w)?$/.test(t)) return 0;
      const sign = t.startsWith('-') ? -1 : 1;
      const ms = parseDuration(t.replace(/^[+-]/, ''));
      if (ms !== null) return sign * ms;
    }
    return this.fail(path, `must be a signed duration such as "-3d" or "2h", not ${describe(v)}`);
  }

  timeOfDay(v: unknown, path: string): TimeOfDay | null {
    const m = typeof v === 'string' ? /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(v.trim()) : null;
    if (!m) return this.fail(path, `must be a time of day "HH:MM" (24-hour), not ${describe(v)}`);
    return { hour: Number(m[1]), minute: Number(m[2]) };
  }

  matcher(o: Obj, path: string): EventMatcher | null {
    const event = this.string(o.event, join(path, 'event'), 'an event name');
    const where = checkWhere(o.where, join(path, 'where'));
    if (!where.ok) {
      this.errors.push(...where.errors);
      return null;
    }
    return event === null ? null : { event, where: where.value };
  }

  correlate(v: unknown, path: string): Correlation[] | null {
    if (v === undefined) return [];
    if (Array.isArray(v)) {
      const out: Correlation[] = [];
      for (const [i, p] of v.entries()) {
        const s = this.string(p, `${path}[${i}]`, 'a property present on both events');
        if (s !== null) out.push({ arriving: propertyPath(s), trigger: propertyPath(s) });
      }
      return out.length === v.length ? out : null;
    }
    if (isObject(v)) {
      const out: Correlation[] = [];
      for (const [a, t] of Object.entries(v)) {
        const s = this.string(t, join(path, a), "the trigger event's property to compare with");
        if (s !== null) out.push({ arriving: propertyPath(a), trigger: propertyPath(s) });
      }
      return out;
    }
    return this.fail(
      path,
      'must be a list of properties (["order_id"]) or a map from the arriving event\'s property to the trigger\'s ({"order_id": "id"})',
    );
  }

  dateSource(o: Obj, path: string): DateSource | null {
    this.keys(o, path, ['trait', 'computed', 'offset', 'at', 'yearly']);
    const hasTrait = o.trait !== undefined;
    const hasComputed = o.computed !== undefined;
    if (hasTrait === hasComputed)
      return this.fail(path, 'needs exactly one of "trait" (a date trait) or "computed" (a computed trait)');
    const name = hasTrait
      ? this.string(o.trait, join(path, 'trait'), 'a date trait')
      : this.string(o.computed, join(path, 'computed'), 'a computed trait');
    if (name !== null && hasComputed && !this.refs.computedExists(name))
      this.fail(join(path, 'computed'), `there is no computed trait "${name}"`);
    const offsetMs = this.offset(o.offset, join(path, 'offset'));
    const at = o.at === undefined ? null : this.timeOfDay(o.at, join(path, 'at'));
    if (o.yearly !== undefined && typeof o.yearly !== 'boolean')
      this.fail(join(path, 'yearly'), 'must be true or false');
    if (name === null || offsetMs === null || (o.at !== undefined && at === null)) return null;
    return { from: hasTrait ? 'trait' : 'computed', name, offsetMs, at, yearly: o.yearly === true };
  }

  segmentKey(v: unknown, path: string): string | null {
    const key = this.string(v, path, 'a segment key');
    if (key === null) return null;
    if (!this.refs.segmentExists(key)) return this.fail(path, `there is no segment "${key}"`);
    return key;
  }

  trigger(v: unknown, path: string): Trigger | null {
    if (!isObject(v))
      return this.fail(
        path,
        'must be an object: {"event": …}, {"segment": …, "on": "entered"|"exited"} or {"date": {…}}',
      );
    if (v.event !== undefined) {
      this.keys(v, path, ['event', 'where']);
      const match = this.matcher(v, path);
      return match === null ? null : { kind: 'event', match };
    }
    if (v.segment !== undefined) {
      this.keys(v, path, ['segment', 'on']);
      const key = this.segmentKey(v.segment, join(path, 'segment'));
      const on = v.on ?? 'entered';
      if (on !== 'entered' && on !== 'exited')
        return this.fail(join(path, 'on'), `must be "entered" or "exited", not ${describe(on)}`);
      return key === null ? null : { kind: 'segment', key, on };
    }
    if (v.date !== undefined) {
      this.keys(v, path, ['date']);
      if (!isObject(v.date))
        return this.fail(join(path, 'date'), 'must be an object like {"trait": "birthday", "at": "09:00"}');
      const date = this.dateSource(v.date, join(path, 'date'));
      return date === null ? null : { kind: 'date', date };
    }
    return this.fail(path, 'needs one of "event", "segment" or "date"');
  }

  edge(v: unknown, path: string, nodes: Obj): string | null {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') return this.fail(path, `must be a node id, not ${describe(v)}`);
    if (!Object.hasOwn(nodes, v)) return this.fail(path, `there is no node "${v}"`);
    return v;
  }

  node(id: string, v: unknown, path: string, nodes: Obj): JourneyNode | null {
    if (!NODE_ID.test(id)) return this.fail(path, `node ids ${KEY_HINT}`);
    if (!isObject(v)) return this.fail(path, 'must be an object with a "type"');
    const type = v.type;
    if (typeof type !== 'string' || !(NODE_TYPES as readonly string[]).includes(type))
      return this.fail(join(path, 'type'), `must be one of ${NODE_TYPES.join(', ')}, not ${describe(type)}`);
    const next = () => this.edge(v.next, join(path, 'next'), nodes);
    switch (type as NodeType) {
      case 'wait': {
        this.keys(v, path, ['type', 'duration', 'until', 'next']);
        let until: WaitUntil | null = null;
        if ((v.duration === undefined) === (v.until === undefined))
          this.fail(
            path,
            'a wait needs exactly one of "duration" ("3d") or "until" ({"time": "09:00"} or a date)',
          );
        else if (v.duration !== undefined) {
          const ms = this.duration(v.duration, join(path, 'duration'));
          if (ms !== null) until = { kind: 'duration', ms };
        } else until = this.waitUntil(v.until, join(path, 'until'));
        const n = next();
        return until === null ? null : { type: 'wait', id, until, next: n };
      }
      case 'wait_for': {
        this.keys(v, path, ['type', 'event', 'where', 'correlate', 'timeout', 'arrived', 'timed_out']);
        const match = this.matcher(v, path);
        const correlate = this.correlate(v.correlate, join(path, 'correlate'));
        const timeoutMs = this.duration(v.timeout, join(path, 'timeout'));
        const arrived = this.edge(v.arrived, join(path, 'arrived'), nodes);
        const timedOut = this.edge(v.timed_out, join(path, 'timed_out'), nodes);
        if (match === null || correlate === null || timeoutMs === null) return null;
        return { type: 'wait_for', id, match, correlate, timeoutMs, arrived, timedOut };
      }
      case 'branch': {
        this.keys(v, path, ['type', 'branches', 'otherwise']);
        if (!Array.isArray(v.branches) || v.branches.length === 0)
          return this.fail(
            join(path, 'branches'),
            'must be a non-empty list of {"condition": …, "next": node}',
          );
        const branches: { condition: Condition; next: string | null }[] = [];
        for (const [i, b] of v.branches.entries()) {
          const bp = `${join(path, 'branches')}[${i}]`;
          if (!isObject(b)) {
            this.fail(bp, 'must be {"condition": …, "next": node}');
            continue;
          }
          this.keys(b, bp, ['condition', 'next']);
          const condition = this.branchCondition(b.condition, join(bp, 'condition'));
          const to = this.edge(b.next, join(bp, 'next'), nodes);
          if (condition !== null) branches.push({ condition, next: to });
        }
        const otherwise = this.edge(v.otherwise, join(path, 'otherwise'), nodes);
        return branches.length === v.branches.length ? { type: 'branch', id, branches, otherwise } : null;
      }
      case 'split': {
        this.keys(v, path, ['type', 'variants']);
        if (!Array.isArray(v.variants) || v.variants.length < 2)
          return this.fail(
            join(path, 'variants'),
            'must list at least two {"name": …, "percent": …, "next": node}',
          );
        const variants: { name: string; percent: number; next: string | null }[] = [];
        let total = 0;
        for (const [i, x] of v.variants.entries()) {
          const xp = `${join(path, 'variants')}[${i}]`;
          if (!isObject(x)) {
            this.fail(xp, 'must be {"name": …, "percent": …, "next": node}');
            continue;
          }
          this.keys(x, xp, ['name', 'percent', 'next']);
          const name = this.string(x.name, join(xp, 'name'), 'the variant name', 100);
          const percent = x.percent;
          if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100))
            this.fail(join(xp, 'percent'), `must be a number from 0 to 100, not ${describe(percent)}`);
          else total += percent;
          const to = this.edge(x.next, join(xp, 'next'), nodes);
          if (name !== null && typeof percent === 'number') variants.push({ name, percent, next: to });
        }
        if (variants.length === v.variants.length && Math.abs(total - 100) > 1e-9)
          this.fail(join(path, 'variants'), `percentages must add up to 100, not ${total}`);
        if (new Set(variants.map((x) => x.name)).size !== variants.length)
          this.fail(join(path, 'variants'), 'variant names must be different');
        return variants.length === v.variants.length ? { type: 'split', id, variants } : null;
      }
      case 'send': {
        this.keys(v, path, ['type', 'channel', 'template', 'category', 'topic', 'next']);
        const channel = v.channel;
        if (typeof channel !== 'string' || !(CHANNELS as readonly string[]).includes(channel))
          this.fail(join(path, 'channel'), `must be one of ${CHANNELS.join(', ')}, not ${describe(channel)}`);
        const template = this.string(v.template, join(path, 'template'), 'a template key');
        if (template !== null && this.refs.templateExists && !this.refs.templateExists(template))
          this.fail(join(path, 'template'), `there is no template "${template}"`);
        const category = v.category ?? 'promotional';
        if (category !== 'promotional' && category !== 'transactional')
          this.fail(
            join(path, 'category'),
            `must be "promotional" or "transactional", not ${describe(category)}`,
          );
        const topic = v.topic === undefined ? null : this.string(v.topic, join(path, 'topic'), 'a topic');
        const n = next();
        if (template === null || !(CHANNELS as readonly string[]).includes(channel as string)) return null;
        return {
          type: 'send',
          id,
          channel: channel as Channel,
          template,
          category: category as MessageCategory,
          topic,
          next: n,
        };
      }
      case 'update': {
        this.keys(v, path, ['type', 'set', 'increment', 'next']);
        const set: Record<string, JsonValue> = {};
        const increment: Record<string, number> = {};
        if (v.set === undefined && v.increment === undefined)
          this.fail(path, 'an update needs "set" ({"trait": value}) or "increment" ({"trait": 1})');
        if (v.set !== undefined) {
          if (!isObject(v.set)) this.fail(join(path, 'set'), 'must be an object of trait values');
          else Object.assign(set, v.set as Record<string, JsonValue>);
        }
        if (v.increment !== undefined) {
          if (!isObject(v.increment)) this.fail(join(path, 'increment'), 'must be an object of numbers');
          else
            for (const [k, n] of Object.entries(v.increment)) {
              if (typeof n !== 'number' || !Number.isFinite(n))
                this.fail(join(join(path, 'increment'), k), `must be a number, not ${describe(n)}`);
              else increment[k] = n;
            }
        }
        if (Object.keys(set).length + Object.keys(increment).length > MAX_TRAIT_UPDATES)
          this.fail(path, `may change at most ${MAX_TRAIT_UPDATES} traits`);
        const n = next();
        return { type: 'update', id, set, increment, next: n };
      }
      case 'exit':
        this.keys(v, path, ['type']);
        return { type: 'exit', id };
    }
  }

  /** Branches read what the profile is now: traits, computed traits and segments. */
  branchCondition(v: unknown, path: string): Condition | null {
    const checked = checkConditionAt(v, path);
    if (!checked.ok) {
      this.errors.push(...checked.errors);
      return null;
    }
    this.references(checked.value, path);
    return checked.value;
  }

  references(c: Condition, path: string): void {
    switch (c.kind) {
      case 'all':
      case 'any':
        for (const x of c.of) this.references(x, path);
        return;
      case 'not':
        this.references(c.of, path);
        return;
      case 'segment':
        if (!this.refs.segmentExists(c.key)) this.fail(path, `there is no segment "${c.key}"`);
        return;
      case 'computed':
        if (!this.refs.computedExists(c.key)) this.fail(path, `there is no computed trait "${c.key}"`);
        return;
      case 'event':
      case 'sequence':
        this.fail(
          path,
          'a branch reads the profile as it is now (traits, computed traits, segments); define a segment for event conditions and branch on {"segment": key}',
        );
        return;
      case 'trait':
        return;
    }
  }

  waitUntil(v: unknown, path: string): WaitUntil | null {
    if (!isObject(v))
      return this.fail(path, 'must be {"time": "09:00", "weekdays": [...]} or {"trait"|"computed": …}');
    if (v.time !== undefined) {
      this.keys(v, path, ['time', 'weekdays']);
      const at = this.timeOfDay(v.time, join(path, 'time'));
      let weekdays: number[] | null = null;
      if (v.weekdays !== undefined) {
        if (!Array.isArray(v.weekdays) || v.weekdays.length === 0)
          this.fail(join(path, 'weekdays'), `must be a non-empty list of ${WEEKDAYS.join(', ')}`);
        else {
          weekdays = [];
          for (const [i, d] of v.weekdays.entries()) {
            const k = typeof d === 'string' ? WEEKDAYS.indexOf(d.toLowerCase().slice(0, 3)) : -1;
            if (k < 0)
              this.fail(
                `${join(path, 'weekdays')}[${i}]`,
                `must be one of ${WEEKDAYS.join(', ')}, not ${describe(d)}`,
              );
            else weekdays.push(k);
          }
        }
      }
      return at === null ? null : { kind: 'time_of_day', at, weekdays };
    }
    const date = this.dateSource(v, path);
    return date === null ? null : { kind: 'date', date };
  }

  goal(v: unknown, path: string): Journey['goal'] {
    if (v === undefined) return null;
    if (!isObject(v)) return this.fail(path, 'must be {"event": …, "where": […], "within": "7d"}');
    this.keys(v, path, ['event', 'where', 'within']);
    const match = this.matcher(v, path);
    const withinMs = v.within === undefined ? null : this.duration(v.within, join(path, 'within'));
    if (match === null || (v.within !== undefined && withinMs === null)) return null;
    return { match, withinMs };
  }

  exits(v: unknown, path: string): ExitRule[] {
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.fail(path, 'must be a list of {"event": …} or {"segment": …}');
      return [];
    }
    const out: ExitRule[] = [];
    for (const [i, x] of v.entries()) {
      const xp = `${path}[${i}]`;
      if (!isObject(x)) {
        this.fail(xp, 'must be {"event": …, "correlate": […]} or {"segment": key}');
        continue;
      }
      const reason =
        x.reason === undefined ? null : this.string(x.reason, join(xp, 'reason'), 'a short reason', 100);
      if (x.segment !== undefined) {
        this.keys(x, xp, ['segment', 'reason']);
        const key = this.segmentKey(x.segment, join(xp, 'segment'));
        if (key !== null) out.push({ kind: 'segment', key, reason: reason ?? `segment:${key}` });
      } else if (x.event !== undefined) {
        this.keys(x, xp, ['event', 'where', 'correlate', 'reason']);
        const match = this.matcher(x, xp);
        const correlate = this.correlate(x.correlate, join(xp, 'correlate'));
        if (match !== null && correlate !== null)
          out.push({ kind: 'event', match, correlate, reason: reason ?? `event:${match.event}` });
      } else this.fail(xp, 'needs "event" or "segment"');
    }
    return out;
  }

  reentry(v: unknown, path: string): Reentry | null {
    if (v === undefined || v === 'once') return { kind: 'once' };
    if (v === 'always') return { kind: 'always' };
    if (isObject(v) && v.cooldown !== undefined) {
      this.keys(v, path, ['cooldown']);
      const ms = this.duration(v.cooldown, join(path, 'cooldown'));
      return ms === null ? null : { kind: 'cooldown', ms };
    }
    return this.fail(path, `must be "once", "always" or {"cooldown": "30d"}, not ${describe(v)}`);
  }
}

/** Checks a journey definition; `key` comes from the URL or file when the body has none. */
export function checkJourney(raw: unknown, key: string, refs: References = ANY_REFERENCE): Checked<Journey> {
  const c = new Checker(refs);
  if (!isObject(raw)) return { ok: false, errors: [{ path: '', message: 'must be a JSON or YAML object' }] };
  c.keys(raw, '', TOP_KEYS);
  if (!KEY_PATTERN.test(key)) c.fail('key', KEY_HINT);
  if (raw.key !== undefined && raw.key !== key)
    c.fail('key', `is "${String(raw.key)}" but the journey is saved as "${key}"`);
  const name = raw.name === undefined ? key : c.string(raw.name, 'name', 'a display name');
  const description =
    raw.description === undefined ? '' : c.string(raw.description, 'description', 'a description', 2000);
  const trigger = c.trigger(raw.trigger, 'trigger');
  const nodesRaw = raw.nodes;
  const nodes = new Map<string, JourneyNode>();
  if (!isObject(nodesRaw) || Object.keys(nodesRaw).length === 0)
    c.fail('nodes', 'must be an object of nodes by id, with at least one node');
  else if (Object.keys(nodesRaw).length > MAX_NODES) c.fail('nodes', `may hold at most ${MAX_NODES} nodes`);
  else
    for (const [id, n] of Object.entries(nodesRaw)) {
      const node = c.node(id, n, `nodes.${id}`, nodesRaw);
      if (node !== null) nodes.set(id, node);
    }
  let start: string | null = null;
  if (isObject(nodesRaw)) {
    start = c.edge(raw.start, 'start', nodesRaw);
    if (raw.start === undefined) c.fail('start', 'must name the first node');
  }
  const goal = c.goal(raw.goal, 'goal');
  const exits = c.exits(raw.exit, 'exit');
  const reentry = c.reentry(raw.reentry, 'reentry');
  let controlPercent = 0;
  if (raw.control !== undefined) {
    const ctl = raw.control;
    if (!isObject(ctl)) c.fail('control', 'must be {"percent": 10}');
    else {
      c.keys(ctl, 'control', ['percent']);
      const p = ctl.percent;
      if (typeof p !== 'number' || !(p >= 0 && p < 100))
        c.fail('control.percent', `must be a number from 0 to below 100, not ${describe(p)}`);
      else controlPercent = p;
    }
  }
  let maxConcurrent = 1;
  if (raw.maxConcurrent !== undefined) {
    const m = raw.maxConcurrent;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > 1000)
      c.fail('maxConcurrent', `must be a whole number from 1 to 1000, not ${describe(m)}`);
    else maxConcurrent = m;
  }
  if (c.errors.length === 0 && start !== null) graphChecks(c, nodes, start);
  if (c.errors.length > 0 || trigger === null || start === null || reentry === null || name === null)
    return { ok: false, errors: c.errors };
  return {
    ok: true,
    value: {
      key,
      name,
      description: description ?? '',
      trigger,
      start,
      nodes,
      goal,
      exits,
      reentry,
      controlPercent,
      maxConcurrent,
    },
  };
}

/** The nodes a node leads to. */
export function successors(n: JourneyNode): (string | null)[] {
  switch (n.type) {
    case 'wait':
    case 'send':
    case 'update':
      return [n.next];
    case 'wait_for':
      return [n.arrived, n.timedOut];
    case 'branch':
      return [...n.branches.map((b) => b.next), n.otherwise];
    case 'split':
      return n.variants.map((v) => v.next);
    case 'exit':
      return [];
  }
}

const waits = (n: JourneyNode) => n.type === 'wait' || n.type === 'wait_for';

/** Unreachable nodes, and cycles a run could go round without ever waiting. */
function graphChecks(c: Checker, nodes: ReadonlyMap<string, JourneyNode>, start: string): void {
  const seen = new Set<string>([start]);
  const todo = [start];
  while (todo.length > 0) {
    for (const s of successors(nodes.get(todo.pop()!)!)) {
      if (s !== null && !seen.has(s)) {
        seen.add(s);
        todo.push(s);
      }
    }
  }
  for (const id of nodes.keys()) {
    if (!seen.has(id)) c.fail(`nodes.${id}`, `is not reachable from the start node "${start}"`);
  }
  // A cycle through nodes that do not wait would run forever within one step.
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (id: string): boolean => {
    state.set(id, 1);
    stack.push(id);
    const n = nodes.get(id)!;
    if (!waits(n)) {
      for (const s of successors(n)) {
        if (s === null) continue;
        const st = state.get(s);
        if (st === 1) {
          const cycle = [...stack.slice(stack.indexOf(s)), s];
          c.fail(`nodes.${s}`, `is on a cycle with no wait in it (${cycle.join(' → ')})`);
          return false;
        }
        if (st === undefined && !visit(s)) return false;
      }
    }
    stack.pop();
    state.set(id, 2);
    return true;
  };
  for (const id of nodes.keys()) {
    if (!state.has(id) && !visit(id)) return;
  }
}

/** Event names a journey listens to: its trigger, wait_for nodes, goal and exit rules. */
export function listenedNames(j: Journey): Set<string> {
  const names = new Set<string>();
  if (j.trigger.kind === 'event') names.add(j.trigger.match.event);
  if (j.trigger.kind === 'segment')
    names.add(j.trigger.on === 'entered' ? 'Segment Entered' : 'Segment Exited');
  for (const n of j.nodes.values()) if (n.type === 'wait_for') names.add(n.match.event);
  if (j.goal) names.add(j.goal.match.event);
  for (const x of j.exits) names.add(x.kind === 'event' ? x.match.event : 'Segment Entered');
  return names;
}
