import type { JsonObject } from '../core/event.ts';
import { hash53 } from '../core/hash53.ts';
import type { CountOp } from './definition.ts';
import { ProfileFacts } from './facts.ts';
import type { CompiledComputed, CompiledMatcher, Projection, Registry, RunCondition } from './registry.ts';
import { changesAt, passes, readPath } from './values.ts';

/** What evaluating a profile reads. */
export interface ProfileView {
  readonly traits: JsonObject;
  /** The profile's facts, all names together, in time order. */
  readonly facts: ProfileFacts | null;
  /** Membership of segments earlier in dependency order (already evaluated). */
  isMember(key: string): boolean;
  /**
   * Computed values already worked out for this profile at this `now`, when the caller keeps them
   * (the engine does, for the length of one evaluation: "is a big spender" and "when could that
   * change" read the same lifetime value).
   */
  readonly computedMemo?: ComputedMemo | null;
}

export const DAY_MS = 86_400_000;

/** The projected values of one event. */
export function project(projection: Projection, body: unknown): unknown[] {
  const values: unknown[] = new Array(projection.paths.length);
  for (let k = 0; k < projection.paths.length; k++) {
    const v = readPath(body, projection.paths[k]!.parts);
    values[k] = v === undefined ? null : v;
  }
  return values;
}

/** The projected values of one event, appended to `out`; returns how many. */
export function projectInto(projection: Projection, body: unknown, out: unknown[]): number {
  for (let k = 0; k < projection.paths.length; k++) {
    const v = readPath(body, projection.paths[k]!.parts);
    out.push(v === undefined ? null : v);
  }
  return projection.paths.length;
}

/**
 * A few computed values, kept for one evaluation: a handful of entries searched in order, emptied
 * by resetting a count, so keeping them allocates nothing.
 */
export class ComputedMemo {
  private readonly defs: CompiledComputed[] = [];
  private readonly values: unknown[] = [];
  /** When each value can next change with time alone; undefined until asked. */
  private readonly changes: (number | null | undefined)[] = [];
  private n = 0;

  reset(): void {
    for (let i = 0; i < this.n; i++) {
      this.values[i] = undefined;
      this.changes[i] = undefined;
    }
    this.n = 0;
  }

  private slot(def: CompiledComputed): number {
    for (let i = 0; i < this.n; i++) if (this.defs[i] === def) return i;
    this.defs[this.n] = def;
    this.values[this.n] = undefined;
    this.changes[this.n] = undefined;
    return this.n++;
  }

  valueOf(def: CompiledComputed, view: ProfileView, now: number): unknown {
    const i = this.slot(def);
    if (this.values[i] === undefined) this.values[i] = computeValue(def, view, now);
    return this.values[i];
  }

  changeOf(def: CompiledComputed, view: ProfileView, now: number): number | null {
    const i = this.slot(def);
    let at = this.changes[i];
    if (at === undefined) this.changes[i] = at = computedChangesAt(def, view, now);
    return at;
  }
}

/** A computed trait's value, from the view's memo when it has one. */
const computedOf = (def: CompiledComputed, view: ProfileView, now: number): unknown =>
  view.computedMemo ? view.computedMemo.valueOf(def, view, now) : computeValue(def, view, now);

/** When a computed trait's value can next change with time alone, from the view's memo when it has one. */
const computedChangeOf = (def: CompiledComputed, view: ProfileView, now: number): number | null =>
  view.computedMemo ? view.computedMemo.changeOf(def, view, now) : computedChangesAt(def, view, now);

const EMPTY_FACTS = new ProfileFacts();
const factsOf = (view: ProfileView): ProfileFacts => view.facts ?? EMPTY_FACTS;

const matches = (m: CompiledMatcher, list: ProfileFacts, k: number, now: number): boolean => {
  for (const w of m.where) if (!passes(w.test, list.value(k, w.index), now)) return false;
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

/**
 * The index of the first of the facts inside a window of `withinMs` at `now`. An event counts for
 * a window of `w` ms at `now` while `ts > now − w` (events dated ahead count too); facts are kept
 * in time order, so a window's are the last ones, found without reading the others.
 */
const windowStart = (list: ProfileFacts, withinMs: number | null, now: number) =>
  withinMs === null ? 0 : list.firstAfter(now - withinMs);

/**
 * Per step of the sequence being matched, the latest start of a partial match so far (−∞: none):
 * one buffer reused by every call, so matching allocates nothing (it runs for every event of a
 * profile, for each sequence segment an event touches).
 */
let bestStart = new Float64Array(8);

/**
 * Sequence: the latest start of a full match (events in order, each step after the previous one)
 * inside a window of `withinMs` at `now`, else null. A match starting inside the window is made of
 * facts inside it, so only those are read.
 */
function latestSequenceStart(
  steps: readonly CompiledMatcher[],
  view: ProfileView,
  withinMs: number | null,
  now: number,
): number | null {
  const list = factsOf(view);
  const n = steps.length;
  if (bestStart.length < n) bestStart = new Float64Array(n);
  // Filled by hand: the built-in fill's call costs more than the two or three slots it fills.
  const best = bestStart;
  for (let i = 0; i < n; i++) best[i] = Number.NEGATIVE_INFINITY;
  for (let k = windowStart(list, withinMs, now); k < list.length; k++) {
    const name = list.nameOf(k);
    const ts = list.ts(k);
    // Later steps first, so one event never serves two steps.
    for (let i = n - 1; i >= 0; i--) {
      const step = steps[i]!;
      if (step.event !== name || !matches(step, list, k, now)) continue;
      if (i === 0) best[0] = Math.max(best[0]!, ts);
      else if (best[i - 1]! > Number.NEGATIVE_INFINITY) best[i] = Math.max(best[i]!, best[i - 1]!);
    }
  }
  const start = best[n - 1]!;
  return start > Number.NEGATIVE_INFINITY ? start : null;
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
      return passes(c.test, computedOf(reg.computed.get(c.key)!, view, now), now);
    case 'event': {
      const m = c.compiled![0]!;
      const list = factsOf(view);
      let n = 0;
      for (let k = windowStart(list, c.withinMs, now); k < list.length; k++) {
        if (list.nameOf(k) === m.event && matches(m, list, k, now)) n++;
      }
      return compareCount(c.count.op, n, c.count.value);
    }
    case 'sequence': {
      return latestSequenceStart(c.compiled!, view, c.withinMs, now) !== null;
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
      return earliest(computedChangeOf(def, view, now), changesAt(c.test, computedOf(def, view, now), now));
    }
    case 'event': {
      if (c.withinMs === null) return null;
      const m = c.compiled![0]!;
      const list = factsOf(view);
      for (let k = windowStart(list, c.withinMs, now); k < list.length; k++) {
        if (list.nameOf(k) === m.event && matches(m, list, k, now)) return list.ts(k) + c.withinMs;
      }
      return null;
    }
    case 'sequence': {
      if (c.withinMs === null) return null;
      const start = latestSequenceStart(c.compiled!, view, c.withinMs, now);
      return start === null ? null : start + c.withinMs;
    }
  }
}

/** Where `evaluateTimed` leaves its second result (a module variable: no object per call). */
let changeAt: number | null = null;

/** The moment `nextChange` would give for the condition `evaluateTimed` last evaluated. */
export const lastChangeAt = (): number | null => changeAt;

/**
 * `evaluate` and `nextChange` in one pass over the profile's facts: returns the result, and leaves
 * the moment it could next change for `lastChangeAt`. The same two answers as calling both (for
 * a segment whose result depends on time, both are wanted after every input that reaches it).
 */
export function evaluateTimed(reg: Registry, c: RunCondition, view: ProfileView, now: number): boolean {
  switch (c.kind) {
    case 'all':
    case 'any': {
      // `evaluate` stops at the first child that decides; the rest still count for the moment.
      const decides = c.kind === 'any';
      let result = !decides;
      let at: number | null = null;
      for (const x of c.of) {
        if (result === decides) {
          at = earliest(at, nextChange(reg, x, view, now));
          continue;
        }
        result = evaluateTimed(reg, x, view, now);
        at = earliest(at, changeAt);
      }
      changeAt = at;
      return result;
    }
    case 'not':
      return !evaluateTimed(reg, c.of, view, now);
    case 'trait': {
      const v = view.traits[c.trait];
      changeAt = changesAt(c.test, v, now);
      return passes(c.test, v, now);
    }
    case 'segment':
      changeAt = null;
      return view.isMember(c.key);
    case 'computed': {
      const def = reg.computed.get(c.key)!;
      const v = computedOf(def, view, now);
      changeAt = earliest(computedChangeOf(def, view, now), changesAt(c.test, v, now));
      return passes(c.test, v, now);
    }
    case 'event': {
      const m = c.compiled![0]!;
      const list = factsOf(view);
      let n = 0;
      let first: number | null = null;
      for (let k = windowStart(list, c.withinMs, now); k < list.length; k++) {
        if (list.nameOf(k) === m.event && matches(m, list, k, now)) {
          first ??= list.ts(k);
          n++;
        }
      }
      changeAt = c.withinMs === null || first === null ? null : first + c.withinMs;
      return compareCount(c.count.op, n, c.count.value);
    }
    case 'sequence': {
      const start = latestSequenceStart(c.compiled!, view, c.withinMs, now);
      changeAt = c.withinMs === null || start === null ? null : start + c.withinMs;
      return start !== null;
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

/** Strings, finite numbers and booleans: a map tells these apart as their JSON texts would. */
const isPlain = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

/**
 * Counts of plain values, in the order first seen: a short list searched in order (a profile's
 * window holds a handful of values; a map per evaluation cost more than the search), moved to a
 * map past 32 values. Keys compare as a map's do (strings by content, numbers by value).
 */
class Tally {
  private readonly vals: unknown[] = [];
  private readonly counts: number[] = [];
  private n = 0;
  private map: Map<unknown, number> | null = null;

  reset(): void {
    for (let i = 0; i < this.n; i++) this.vals[i] = undefined;
    this.n = 0;
    this.map = null;
  }

  add(v: unknown): void {
    if (this.map !== null) {
      this.map.set(v, (this.map.get(v) ?? 0) + 1);
      return;
    }
    for (let i = 0; i < this.n; i++) {
      if (this.vals[i] === v) {
        this.counts[i]!++;
        return;
      }
    }
    if (this.n === 32) {
      this.map = new Map();
      for (let i = 0; i < this.n; i++) this.map.set(this.vals[i], this.counts[i]!);
      this.map.set(v, 1);
      return;
    }
    this.vals[this.n] = v;
    this.counts[this.n++] = 1;
  }

  get size(): number {
    return this.map !== null ? this.map.size : this.n;
  }

  /** Calls `f` with each value and its count, in the order first seen. */
  each(f: (v: unknown, n: number) => void): void {
    if (this.map !== null) for (const [v, n] of this.map) f(v, n);
    else for (let i = 0; i < this.n; i++) f(this.vals[i], this.counts[i]!);
  }
}

/** One tally for every evaluation (computing a value calls nothing that computes another). */
const tally = new Tally();

/**
 * The value seen most often; of equals, the one whose JSON text sorts first. Plain values are
 * counted as themselves (nothing printed), any other value by its JSON text.
 */
function mostFrequent(plain: Tally | null, json: Map<string, number> | null): unknown {
  let best: unknown = null;
  let bestText: string | null = null;
  let bestN = 0;
  plain?.each((v, n) => {
    if (n < bestN) return;
    if (n === bestN) {
      const text = JSON.stringify(v);
      bestText ??= JSON.stringify(best);
      if (!(text < bestText)) return;
      bestText = text;
    } else bestText = null;
    best = v;
    bestN = n;
  });
  if (json !== null) {
    for (const [text, n] of json) {
      if (n < bestN) continue;
      if (n === bestN) {
        bestText ??= JSON.stringify(best);
        if (!(text < bestText)) continue;
      }
      best = JSON.parse(text);
      bestText = text;
      bestN = n;
    }
  }
  return bestN === 0 ? null : best;
}

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
  let first = -1;
  let last = -1;
  let seen: Tally | null = null;
  let seenJson: Map<string, number> | null = null;
  const list = factsOf(view);
  const event = def.match.event;
  for (let k = windowStart(list, within, now); k < list.length; k++) {
    if (list.nameOf(k) !== event || !matches(def.match, list, k, now)) continue;
    count++;
    if (first < 0) first = k;
    last = k;
    if (at < 0) continue;
    const v = list.value(k, at);
    if (agg === 'distinct_count' || agg === 'most_frequent') {
      if (v === null || v === undefined) continue;
      if (isPlain(v)) {
        if (seen === null) {
          seen = tally;
          seen.reset();
        }
        seen.add(v);
      } else {
        seenJson ??= new Map();
        const text = JSON.stringify(v);
        seenJson.set(text, (seenJson.get(text) ?? 0) + 1);
      }
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
      return first < 0 ? null : (list.value(first, at) ?? null);
    case 'last':
      return last < 0 ? null : (list.value(last, at) ?? null);
    case 'distinct_count':
      return (seen?.size ?? 0) + (seenJson?.size ?? 0);
    case 'most_frequent':
      return mostFrequent(seen, seenJson);
    case 'days_since_last':
      return last < 0 ? null : Math.max(0, Math.floor((now - list.ts(last)) / DAY_MS));
    case 'purchase_interval':
      return count < 2 ? null : round((list.ts(last) - list.ts(first)) / (count - 1) / DAY_MS, 2);
    case 'next_purchase': {
      if (count < 2) return null;
      const gap = (list.ts(last) - list.ts(first)) / (count - 1);
      return new Date(Math.round(list.ts(last) + gap)).toISOString();
    }
  }
}

/** When a computed trait's value can next change with no new event. */
export function computedChangesAt(def: CompiledComputed, view: ProfileView, now: number): number | null {
  const within = def.definition.withinMs;
  const daysSince = def.definition.aggregate === 'days_since_last';
  if (within === null && !daysSince) return null;
  let first: number | null = null;
  let last: number | null = null;
  const list = factsOf(view);
  const event = def.match.event;
  for (let k = windowStart(list, within, now); k < list.length; k++) {
    if (list.nameOf(k) !== event || !matches(def.match, list, k, now)) continue;
    first ??= list.ts(k);
    last = list.ts(k);
    if (!daysSince) break;
  }
  let at: number | null = null;
  if (within !== null && first !== null) at = first + within;
  if (daysSince && last !== null) {
    const days = Math.max(0, Math.floor((now - last) / DAY_MS));
    at = earliest(at, last > now ? last + DAY_MS : last + (days + 1) * DAY_MS);
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
  const facts = new ProfileFacts();
  for (const e of events) {
    const projection = e.name === null ? undefined : reg.projections.get(e.name);
    if (projection === undefined) continue;
    facts.insert(
      e.name!,
      e.timestamp,
      hash53(e.messageId),
      projection.paths.length > 0 ? project(projection, e.body) : null,
    );
  }
  const members = new Set<string>();
  const view: ProfileView = { traits, facts, isMember: (k) => members.has(k) };
  for (const seg of reg.segments) if (evaluate(reg, seg.condition, view, now)) members.add(seg.key);
  return [...members].sort();
}
