import { DURATION_HINT, parseDuration } from './duration.ts';

/**
 * Segment and computed-trait definitions: the JSON grammar of the public contract, checked and
 * compiled into a form the evaluator can run. Every error names the path of the offending field
 * (`all[1].where[0].op`), so a user can find it in a long definition.
 */

export const VALUE_OPS = [
  'eq',
  'neq',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'not_in',
  'contains',
  'starts_with',
  'exists',
  'not_exists',
  'before',
  'after',
  'within_last',
  'not_within_last',
] as const;
export type ValueOp = (typeof VALUE_OPS)[number];

export const COUNT_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte'] as const;
export type CountOp = (typeof COUNT_OPS)[number];

export const AGGREGATES = [
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'first',
  'last',
  'distinct_count',
  'most_frequent',
  'days_since_last',
  'purchase_interval',
  'next_purchase',
] as const;
export type Aggregate = (typeof AGGREGATES)[number];
/** Aggregates that read a property of each event. */
const NEEDS_PROPERTY: ReadonlySet<Aggregate> = new Set([
  'sum',
  'avg',
  'min',
  'max',
  'first',
  'last',
  'distinct_count',
  'most_frequent',
]);

export type Primitive = string | number | boolean | null;

/** A test of one value: a trait, a computed trait or an event property. */
export type ValueTest =
  | { readonly op: 'eq' | 'neq'; readonly value: Primitive }
  | { readonly op: 'gt' | 'gte' | 'lt' | 'lte'; readonly value: number }
  | { readonly op: 'in' | 'not_in'; readonly value: readonly Primitive[] }
  | { readonly op: 'contains' | 'starts_with'; readonly value: string | number }
  | { readonly op: 'exists' | 'not_exists' }
  | { readonly op: 'before' | 'after'; readonly at: number }
  | { readonly op: 'within_last' | 'not_within_last'; readonly ms: number };

/** Where a property path starts: the event's `properties`, or the whole message. */
export interface PropertyPath {
  readonly text: string;
  readonly parts: readonly string[];
}

export interface PropertyTest {
  readonly path: PropertyPath;
  readonly test: ValueTest;
}

export interface EventMatcher {
  readonly event: string;
  readonly where: readonly PropertyTest[];
}

export type Condition =
  | { readonly kind: 'all' | 'any'; readonly of: readonly Condition[] }
  | { readonly kind: 'not'; readonly of: Condition }
  | { readonly kind: 'trait'; readonly trait: string; readonly test: ValueTest }
  | {
      readonly kind: 'event';
      readonly match: EventMatcher;
      readonly count: { readonly op: CountOp; readonly value: number };
      readonly withinMs: number | null;
    }
  | { readonly kind: 'sequence'; readonly steps: readonly EventMatcher[]; readonly withinMs: number | null }
  | { readonly kind: 'computed'; readonly key: string; readonly test: ValueTest }
  | { readonly kind: 'segment'; readonly key: string };

export interface ComputedTrait {
  readonly match: EventMatcher;
  readonly aggregate: Aggregate;
  readonly property: PropertyPath | null;
  readonly withinMs: number | null;
}

export interface DefinitionError {
  readonly path: string;
  readonly message: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: DefinitionError[] };

/** Keys name segments and computed traits in URLs and events. */
export const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
export const KEY_HINT = 'must be 1–100 letters, digits, "_", "-" or ".", starting with a letter or digit';

const MAX_DEPTH = 32;
const MAX_IN_VALUES = 1000;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPrimitive = (v: unknown): v is Primitive =>
  v === null ||
  typeof v === 'string' ||
  typeof v === 'boolean' ||
  (typeof v === 'number' && Number.isFinite(v));
const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);
const describe = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'object'
        ? 'an object'
        : JSON.stringify(v);

/**
 * What a value should have been and what it was; a key left out is said to be missing, not to be
 * `undefined`.
 */
const wrong = (expected: string, v: unknown): string =>
  v === undefined ? `is missing (it ${expected})` : `${expected}, not ${describe(v)}`;

/** Top-level message fields a property path may start from; anything else is under `properties`. */
const MESSAGE_ROOTS = new Set(['properties', 'context', 'traits', 'integrations']);

export function propertyPath(text: string): PropertyPath {
  const parts = text.split('.');
  return { text, parts: MESSAGE_ROOTS.has(parts[0]!) ? parts : ['properties', ...parts] };
}

class Checker {
  readonly errors: DefinitionError[] = [];

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

  nonEmptyString(v: unknown, path: string, what: string): string | null {
    if (typeof v !== 'string' || v.trim() === '')
      return this.fail(path, `must be a non-empty string (${what})`);
    if (v.length > 200) return this.fail(path, `must be at most 200 characters`);
    return v;
  }

  duration(v: unknown, path: string): number | null {
    const ms = parseDuration(v);
    return ms === null ? this.fail(path, wrong(DURATION_HINT, v)) : ms;
  }

  valueTest(o: Obj, path: string, what: 'trait' | 'computed' | 'property'): ValueTest | null {
    const op = o.op;
    if (typeof op !== 'string' || !(VALUE_OPS as readonly string[]).includes(op)) {
      return this.fail(join(path, 'op'), wrong(`must be one of ${VALUE_OPS.join(', ')}`, op));
    }
    const vp = join(path, 'value');
    const v = o.value;
    switch (op as ValueOp) {
      case 'eq':
      case 'neq':
        if (!('value' in o)) return this.fail(vp, `is required for ${op}`);
        if (!isPrimitive(v)) return this.fail(vp, `must be a string, number, boolean or null for ${op}`);
        return { op: op as 'eq', value: v };
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte':
        if (typeof v !== 'number' || !Number.isFinite(v))
          return this.fail(vp, wrong(`must be a number for ${op}`, v));
        return { op: op as 'gt', value: v };
      case 'in':
      case 'not_in':
        if (!Array.isArray(v) || v.length === 0) return this.fail(vp, `must be a non-empty array for ${op}`);
        if (v.length > MAX_IN_VALUES) return this.fail(vp, `must hold at most ${MAX_IN_VALUES} values`);
        for (const [i, x] of v.entries()) {
          if (!isPrimitive(x)) return this.fail(`${vp}[${i}]`, 'must be a string, number, boolean or null');
        }
        return { op: op as 'in', value: v as Primitive[] };
      case 'contains':
      case 'starts_with':
        if (typeof v !== 'string' && !(op === 'contains' && typeof v === 'number'))
          return this.fail(vp, wrong(`must be a string for ${op}`, v));
        return { op: op as 'contains', value: v as string };
      case 'exists':
      case 'not_exists':
        if ('value' in o) return this.fail(vp, `must be left out for ${op}`);
        return { op: op as 'exists' };
      case 'before':
      case 'after': {
        const at = typeof v === 'string' ? Date.parse(v) : Number.NaN;
        if (!Number.isFinite(at))
          return this.fail(vp, wrong(`must be an ISO 8601 date or time for ${op}`, v));
        return { op: op as 'before', at };
      }
      case 'within_last':
      case 'not_within_last': {
        if (what === 'property')
          return this.fail(join(path, 'op'), `${op} applies to date traits, not event properties`);
        const ms = this.duration(v, vp);
        return ms === null ? null : { op: op as 'within_last', ms };
      }
    }
  }

  where(v: unknown, path: string): PropertyTest[] | null {
    if (v === undefined) return [];
    if (!Array.isArray(v)) return this.fail(path, 'must be an array of property filters');
    const out: PropertyTest[] = [];
    let ok = true;
    for (const [i, f] of v.entries()) {
      const fp = `${path}[${i}]`;
      if (!isObject(f)) {
        ok =
          this.fail(fp, 'must be an object like {"property": "revenue", "op": "gt", "value": 50}') !== null;
        continue;
      }
      this.keys(f, fp, ['property', 'op', 'value']);
      const prop = this.nonEmptyString(f.property, join(fp, 'property'), 'a dotted property path');
      const test = this.valueTest(f, fp, 'property');
      if (prop === null || test === null) ok = false;
      else out.push({ path: propertyPath(prop), test });
    }
    return ok ? out : null;
  }

  matcher(o: Obj, path: string): EventMatcher | null {
    const event = this.nonEmptyString(o.event, join(path, 'event'), 'an event name');
    const where = this.where(o.where, join(path, 'where'));
    return event === null || where === null ? null : { event, where };
  }

  condition(v: unknown, path: string, depth: number): Condition | null {
    if (depth > MAX_DEPTH) return this.fail(path, `is nested deeper than ${MAX_DEPTH} levels`);
    if (!isObject(v)) return this.fail(path, wrong('must be a condition object', v));
    const kinds = ['all', 'any', 'not', 'trait', 'event', 'sequence', 'computed', 'segment'].filter(
      (k) => k in v,
    );
    if (kinds.length !== 1) {
      return this.fail(
        path,
        kinds.length === 0
          ? 'must have one of the keys all, any, not, trait, event, sequence, computed, segment'
          : `must have only one of the keys ${kinds.join(', ')}`,
      );
    }
    const kind = kinds[0]!;
    switch (kind) {
      case 'all':
      case 'any': {
        this.keys(v, path, [kind]);
        const list = v[kind];
        if (!Array.isArray(list) || list.length === 0)
          return this.fail(join(path, kind), 'must be a non-empty array of conditions');
        const of = list.map((c, i) => this.condition(c, `${join(path, kind)}[${i}]`, depth + 1));
        return of.every((c) => c !== null) ? { kind, of: of as Condition[] } : null;
      }
      case 'not': {
        this.keys(v, path, ['not']);
        const of = this.condition(v.not, join(path, 'not'), depth + 1);
        return of === null ? null : { kind: 'not', of };
      }
      case 'trait': {
        this.keys(v, path, ['trait', 'op', 'value']);
        const trait = this.nonEmptyString(v.trait, join(path, 'trait'), 'a trait name');
        const test = this.valueTest(v, path, 'trait');
        return trait === null || test === null ? null : { kind: 'trait', trait, test };
      }
      case 'computed': {
        this.keys(v, path, ['computed', 'op', 'value']);
        const key = this.key(v.computed, join(path, 'computed'));
        const test = this.valueTest(v, path, 'computed');
        return key === null || test === null ? null : { kind: 'computed', key, test };
      }
      case 'segment': {
        this.keys(v, path, ['segment']);
        const key = this.key(v.segment, join(path, 'segment'));
        return key === null ? null : { kind: 'segment', key };
      }
      case 'event': {
        this.keys(v, path, ['event', 'where', 'count', 'within']);
        const match = this.matcher(v, path);
        const count = this.count(v.count, join(path, 'count'));
        const withinMs = v.within === undefined ? null : this.duration(v.within, join(path, 'within'));
        if (match === null || count === null || (v.within !== undefined && withinMs === null)) return null;
        return { kind: 'event', match, count, withinMs };
      }
      case 'sequence': {
        this.keys(v, path, ['sequence', 'within']);
        const sp = join(path, 'sequence');
        const list = v.sequence;
        if (!Array.isArray(list) || list.length < 2)
          return this.fail(sp, 'must be an array of at least two steps');
        const steps = list.map((s, i) => {
          const p = `${sp}[${i}]`;
          if (!isObject(s)) return this.fail(p, 'must be an object like {"event": "Product Viewed"}');
          this.keys(s, p, ['event', 'where']);
          return this.matcher(s, p);
        });
        const withinMs = v.within === undefined ? null : this.duration(v.within, join(path, 'within'));
        if (steps.some((s) => s === null) || (v.within !== undefined && withinMs === null)) return null;
        return { kind: 'sequence', steps: steps as EventMatcher[], withinMs };
      }
    }
    return null;
  }

  count(v: unknown, path: string): { op: CountOp; value: number } | null {
    if (v === undefined) return { op: 'gte', value: 1 };
    if (!isObject(v)) return this.fail(path, 'must be an object like {"op": "gte", "value": 2}');
    this.keys(v, path, ['op', 'value']);
    if (typeof v.op !== 'string' || !(COUNT_OPS as readonly string[]).includes(v.op))
      return this.fail(join(path, 'op'), wrong(`must be one of ${COUNT_OPS.join(', ')}`, v.op));
    if (typeof v.value !== 'number' || !Number.isInteger(v.value) || v.value < 0)
      return this.fail(join(path, 'value'), wrong('must be a whole number ≥ 0', v.value));
    return { op: v.op as CountOp, value: v.value };
  }

  key(v: unknown, path: string): string | null {
    if (typeof v !== 'string' || !KEY_PATTERN.test(v)) return this.fail(path, wrong(KEY_HINT, v));
    return v;
  }

  computed(v: unknown): ComputedTrait | null {
    if (!isObject(v))
      return this.fail(
        '',
        'must be an object like {"event": "Order Completed", "aggregate": "sum", "property": "revenue"}',
      );
    this.keys(v, '', ['event', 'where', 'aggregate', 'property', 'within']);
    const match = this.matcher(v, '');
    const aggregate = v.aggregate;
    if (typeof aggregate !== 'string' || !(AGGREGATES as readonly string[]).includes(aggregate)) {
      this.fail('aggregate', wrong(`must be one of ${AGGREGATES.join(', ')}`, aggregate));
      return null;
    }
    const agg = aggregate as Aggregate;
    let property: PropertyPath | null = null;
    if (NEEDS_PROPERTY.has(agg)) {
      const p = this.nonEmptyString(v.property, 'property', `the property to ${agg}`);
      if (p === null) return null;
      property = propertyPath(p);
    } else if (v.property !== undefined) {
      return this.fail('property', `must be left out for ${agg}`);
    }
    const withinMs = v.within === undefined ? null : this.duration(v.within, 'within');
    if (match === null || (v.within !== undefined && withinMs === null)) return null;
    return { match, aggregate: agg, property, withinMs };
  }
}

/** Checks a segment definition (the condition itself), naming every problem by its path. */
export function checkSegment(definition: unknown): Checked<Condition> {
  const c = new Checker();
  const value = c.condition(definition, '', 0);
  return value !== null && c.errors.length === 0 ? { ok: true, value } : { ok: false, errors: c.errors };
}

/** Checks a computed-trait definition, naming every problem by its path. */
export function checkComputedTrait(definition: unknown): Checked<ComputedTrait> {
  const c = new Checker();
  const value = c.computed(definition);
  return value !== null && c.errors.length === 0 ? { ok: true, value } : { ok: false, errors: c.errors };
}

export function checkKey(key: string): DefinitionError | null {
  return KEY_PATTERN.test(key) ? null : { path: 'key', message: KEY_HINT };
}

/** Checks a list of property filters (`where`) found at `path` of another definition. */
export function checkWhere(v: unknown, path: string): Checked<PropertyTest[]> {
  const c = new Checker();
  const value = c.where(v, path);
  return value !== null && c.errors.length === 0 ? { ok: true, value } : { ok: false, errors: c.errors };
}

/** Checks a condition found at `path` of another definition (a journey's branch, say). */
export function checkConditionAt(v: unknown, path: string): Checked<Condition> {
  const c = new Checker();
  const value = c.condition(v, path, 0);
  return value !== null && c.errors.length === 0 ? { ok: true, value } : { ok: false, errors: c.errors };
}
