import type { JsonObject } from '../core/event.ts';
import { hash53 } from '../core/hash53.ts';
import type { CountOp } from './definition.ts';
import type { CompiledComputed, CompiledMatcher, Projection, Registry, RunCondition } from './registry.ts';
import { changesAt, passes, readPath } from './values.ts';

/**
 * What the evaluator keeps of one event: its time, a tie-breaker derived from its message id (so
 * events at the same millisecond order the same way whatever order they arrived in) and the
 * projected property values.
 */
export interface Fact {
  readonly ts: number;
  readonly tie: number;
  readonly values: readonly unknown[];
}

/** What evaluating a profile reads. */
export interface ProfileView {
  readonly traits: JsonObject;
  /** Facts by event name, sorted by (ts, tie). */
  readonly events: ReadonlyMap<string, readonly Fact[]>;
  /** Membership of segments earlier in dependency order (already evaluated). */
  isMember(key: string): boolean;
}

export const DAY_MS = 86_400_000;

export function toFact(projection: Projection, ts: number, messageId: string, body: unknown): Fact {
  return {
    ts,
    tie: hash53(messageId),
    values: projection.paths.map((p) => {
      const v = readPath(body, p.parts);
      return v === undefined ? null : v;
    }),
  };
}

export const factOrder = (a: Fact, b: Fact): number => a.ts - b.ts || a.tie - b.tie;

/** Inserts in order; false when an equal fact (same time and message) is already there. */
export function insertFact(list: Fact[], f: Fact): boolean {
  const last = list[list.length - 1];
  if (last === undefined || factOrder(last, f) < 0) {
    list.push(f);
    return true;
  }
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (factOrder(list[mid]!, f) < 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo < list.length && factOrder(list[lo]!, f) === 0) return false;
  list.splice(lo, 0, f);
  return true;
}

/** Drops facts that can no longer count for any window (those at or before now − horizon). */
export function pruneFacts(list: Fact[], horizonMs: number, now: number): void {
  if (!Number.isFinite(horizonMs) || list.length === 0) return;
  const cutoff = now - horizonMs;
  let n = 0;
  while (n < list.length && list[n]!.ts <= cutoff) n++;
  if (n > 0) list.splice(0, n);
}

const matches = (m: CompiledMatcher, f: Fact, now: number): boolean => {
  for (const w of m.where) if (!passes(w.test, f.values[w.index], now)) return false;
  return true;
};

const compareCount = (op: CountOp, n: number, v: number): boolean => {
  switch (op) {
    case 'eq':
      return n === v;
    case 'neq':
      return n !== v;
    case 'gt':
      return n > v;
    case 'gte':
      return n >= v;
    case 'lt':
      return n < v;
    case 'lte':
      return n <= v;
  }
};

/** An event counts for a window of `w` ms at `now` while `ts > now − w` (events dated ahead count too). */
const inWindow = (ts: number, withinMs: number | null, now: number) =>
  withinMs === null || ts > now - withinMs;

const NO_FACTS: readonly Fact[] = [];

/**
 * Sequence: the latest start of a full match (events in order, each step after the previous one).
 * Walks the steps' fact lists merged in time order, without copying them.
 */
function latestSequenceStart(
  steps: readonly CompiledMatcher[],
  view: ProfileView,
  now: number,
): number | null {
  const names: string[] = [];
  const lists: (readonly Fact[])[] = [];
  for (const step of steps) {
    if (names.includes(step.event)) continue;
    names.push(step.event);
    lists.push(view.events.get(step.event) ?? NO_FACTS);
  }
  const pos = lists.map(() => 0);
  const best: (number | null)[] = steps.map(() => null);
  for (;;) {
    let j = -1;
    for (let k = 0; k < lists.length; k++) {
      const f = lists[k]![pos[k]!];
      if (f !== undefined && (j === -1 || factOrder(f, lists[j]![pos[j]!]!) < 0)) j = k;
    }
    if (j === -1) break;
    const f = lists[j]![pos[j]!++]!;
    const name = names[j];
    // Later steps first, so one event never serves two steps.
    for (let i = steps.length - 1; i >= 0; i--) {
      const step = steps[i]!;
      if (step.event !== name || !matches(step, f, now)) continue;
      if (i === 0) best[0] = Math.max(best[0] ?? Number.NEGATIVE_INFINITY, f.ts);
      else if (best[i - 1] !== null) best[i] = Math.max(best[i] ?? Number.NEGATIVE_INFINITY, best[i - 1]!);
    }
  }
  return best[steps.length - 1] ?? null;
}

/** Evaluates a condition for one profile at `now`. */
export function evaluate(reg: Registry, c: RunCondition, view: ProfileView, now: number): boolean {
  switch (c.kind) {
    case 'all':
      for (const x of c.of) if (!evaluate(reg, x, view, now)) return false;
      return true;
    case 'any':
      for (const x of c.of) if (evaluate(reg, x, view, now)) return true;
      return false;
    case 'not':
      return !evaluate(reg, c.of, view, now);
    case 'trait':
      return passes(c.test, view.traits[c.trait], now);
    case 'segment':
      return view.isMember(c.key);
    case 'computed':
      return passes(c.test, computeValue(reg.computed.get(c.key)!, view, now), now);
    case 'event': {
      const m = c.compiled![0]!;
      const list = view.events.get(m.event) ?? NO_FACTS;
      let n = 0;
      for (const f of list) if (inWindow(f.ts, c.withinMs, now) && matches(m, f, now)) n++;
      return compareCount(c.count.op, n, c.count.value);
    }
    case 'sequence': {
      const start = latestSequenceStart(c.compiled!, view, now);
      return start !== null && inWindow(start, c.withinMs, now);
    }
  }
}

/**
 * The earliest moment after `now` at which the condition's result could change with no new input:
 * when a window slides past an event or a date. May be early (the result then stays), never late.
 */
export function nextChange(reg: Registry, c: RunCondition, view: ProfileView, now: number): number | null {
  switch (c.kind) {
    case 'all':
    case 'any': {
      let at: number | null = null;
      for (const x of c.of) at = earliest(at, nextChange(reg, x, view, now));
      return at;
    }
    case 'not':
      return nextChange(reg, c.of, view, now);
    case 'trait':
      return changesAt(c.test, view.traits[c.trait], now);
    case 'segment':
      return null;
    case 'computed': {
      const def = reg.computed.get(c.key)!;
      return earliest(
        computedChangesAt(def, view, now),
        changesAt(c.test, computeValue(def, view, now), now),
      );
    }
    case 'event': {
      if (c.withinMs === null) return null;
      const m = c.compiled![0]!;
      for (const f of view.events.get(m.event) ?? NO_FACTS) {
        if (inWindow(f.ts, c.withinMs, now) && matches(m, f, now)) return f.ts + c.withinMs;
      }
      return null;
    }
    case 'sequence': {
      if (c.withinMs === null) return null;
      const start = latestSequenceStart(c.compiled!, view, now);
      return start !== null && inWindow(start, c.withinMs, now) ? start + c.withinMs : null;
    }
  }
}

export const earliest = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.min(a, b);

const numeric = (v: unknown): number | null => {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
};

const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** A computed trait's value for one profile at `now` (null when there is nothing to compute from). */
export function computeValue(def: CompiledComputed, view: ProfileView, now: number): unknown {
  const agg = def.definition.aggregate;
  const within = def.definition.withinMs;
  const at = def.propertyIndex;
  let count = 0;
  let sum = 0;
  let numbers = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let first: Fact | null = null;
  let last: Fact | null = null;
  let seen: Map<string, number> | null = null;
  for (const f of view.events.get(def.match.event) ?? NO_FACTS) {
    if (!inWindow(f.ts, within, now) || !matches(def.match, f, now)) continue;
    count++;
    first ??= f;
    last = f;
    if (at < 0) continue;
    const v = f.values[at];
    if (agg === 'distinct_count' || agg === 'most_frequent') {
      if (v === null || v === undefined) continue;
      seen ??= new Map();
      const k = JSON.stringify(v);
      seen.set(k, (seen.get(k) ?? 0) + 1);
      continue;
    }
    const n = numeric(v);
    if (n === null) continue;
    numbers++;
    sum += n;
    if (n < min) min = n;
    if (n > max) max = n;
  }
  switch (agg) {
    case 'count':
      return count;
    case 'sum':
      return round(sum, 6);
    case 'avg':
      return numbers === 0 ? null : round(sum / numbers, 6);
    case 'min':
      return numbers === 0 ? null : min;
    case 'max':
      return numbers === 0 ? null : max;
    case 'first':
      return first === null ? null : (first.values[at] ?? null);
    case 'last':
      return last === null ? null : (last.values[at] ?? null);
    case 'distinct_count':
      return seen?.size ?? 0;
    case 'most_frequent': {
      if (seen === null) return null;
      let best: string | null = null;
      let bestN = 0;
      for (const [k, n] of seen)
        if (n > bestN || (n === bestN && best !== null && k < best)) [best, bestN] = [k, n];
      return best === null ? null : JSON.parse(best);
    }
    case 'days_since_last':
      return last === null ? null : Math.max(0, Math.floor((now - last.ts) / DAY_MS));
    case 'purchase_interval':
      return count < 2 ? null : round((last!.ts - first!.ts) / (count - 1) / DAY_MS, 2);
    case 'next_purchase':
      return count < 2
        ? null
        : new Date(Math.round(last!.ts + (last!.ts - first!.ts) / (count - 1))).toISOString();
  }
}

/** When a computed trait's value can next change with no new event. */
export function computedChangesAt(def: CompiledComputed, view: ProfileView, now: number): number | null {
  const within = def.definition.withinMs;
  const daysSince = def.definition.aggregate === 'days_since_last';
  if (within === null && !daysSince) return null;
  let first: Fact | null = null;
  let last: Fact | null = null;
  for (const f of view.events.get(def.match.event) ?? NO_FACTS) {
    if (!inWindow(f.ts, within, now) || !matches(def.match, f, now)) continue;
    first ??= f;
    last = f;
    if (!daysSince) break;
  }
  let at: number | null = null;
  if (within !== null && first !== null) at = first.ts + within;
  if (daysSince && last !== null) {
    const days = Math.max(0, Math.floor((now - last.ts) / DAY_MS));
    at = earliest(at, last.ts > now ? last.ts + DAY_MS : last.ts + (days + 1) * DAY_MS);
  }
  return at;
}

/** An event as read back from the log, for evaluating from scratch. */
export interface LoggedEvent {
  readonly name: string | null;
  readonly timestamp: number;
  readonly messageId: string;
  readonly body: unknown;
}

/**
 * Every segment a profile belongs to at `now`, computed from scratch from its traits and whole
 * event history: the reference that incremental membership must always equal.
 */
export function membershipFromScratch(
  reg: Registry,
  traits: JsonObject,
  events: readonly LoggedEvent[],
  now: number,
): string[] {
  const facts = new Map<string, Fact[]>();
  for (const e of events) {
    const projection = e.name === null ? undefined : reg.projections.get(e.name);
    if (projection === undefined) continue;
    let list = facts.get(e.name!);
    if (list === undefined) {
      list = [];
      facts.set(e.name!, list);
    }
    insertFact(list, toFact(projection, e.timestamp, e.messageId, e.body));
  }
  const members = new Set<string>();
  const view: ProfileView = { traits, events: facts, isMember: (k) => members.has(k) };
  for (const seg of reg.segments) if (evaluate(reg, seg.condition, view, now)) members.add(seg.key);
  return [...members].sort();
}
