import type { Primitive, ValueTest } from './definition.ts';

/** Reads a dotted path out of a JSON value; undefined when any step is missing. */
export function readPath(root: unknown, parts: readonly string[]): unknown {
  let v = root;
  for (const p of parts) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    if (!Object.hasOwn(v, p)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

const asNumber = (v: unknown): number | null => {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
};

/** A date trait as milliseconds: an ISO 8601 string or a number of milliseconds since the epoch. */
export const asTime = (v: unknown): number | null => {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }
  return null;
};

/** Equal as JSON values, with a number and a numeric string taken as equal ("3" eq 3). */
export function same(actual: unknown, expected: Primitive): boolean {
  if (actual === expected) return true;
  if (actual === undefined || actual === null || expected === null) return false;
  if (typeof expected === 'number' && typeof actual === 'string') return asNumber(actual) === expected;
  if (typeof expected === 'string' && typeof actual === 'number') return asNumber(expected) === actual;
  return false;
}

/** Whether the value equals one of the list's (a loop, not a closure: this runs per fact). */
function sameAsOne(actual: unknown, list: readonly Primitive[]): boolean {
  for (const x of list) if (same(actual, x)) return true;
  return false;
}

const present = (v: unknown) => v !== undefined && v !== null;

/**
 * Whether a value passes a test at time `now`. A missing value fails every test but `neq`,
 * `not_in` and `not_exists`: "plan is not pro" holds for someone with no plan.
 */
export function passes(test: ValueTest, actual: unknown, now: number): boolean {
  switch (test.op) {
    case 'eq':
      return same(actual, test.value);
    case 'neq':
      return !same(actual, test.value);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const n = asNumber(actual);
      if (n === null) return false;
      if (test.op === 'gt') return n > test.value;
      if (test.op === 'gte') return n >= test.value;
      if (test.op === 'lt') return n < test.value;
      return n <= test.value;
    }
    case 'in':
      return sameAsOne(actual, test.value);
    case 'not_in':
      return !sameAsOne(actual, test.value);
    case 'contains':
      if (Array.isArray(actual)) return actual.some((x) => same(x, test.value));
      return typeof actual === 'string' && actual.includes(String(test.value));
    case 'starts_with':
      return typeof actual === 'string' && actual.startsWith(String(test.value));
    case 'exists':
      return present(actual);
    case 'not_exists':
      return !present(actual);
    case 'before':
    case 'after': {
      const t = asTime(actual);
      if (t === null) return false;
      return test.op === 'before' ? t < test.at : t > test.at;
    }
    case 'within_last':
    case 'not_within_last': {
      const t = asTime(actual);
      if (t === null) return false;
      const within = t > now - test.ms && t <= now;
      return test.op === 'within_last' ? within : !within;
    }
  }
}

/** The first moment after `now` at which `passes` can change with no change to the value. */
export function changesAt(test: ValueTest, actual: unknown, now: number): number | null {
  if (test.op !== 'within_last' && test.op !== 'not_within_last') return null;
  const t = asTime(actual);
  if (t === null) return null;
  // Inside the window from t (once now reaches it) until t + window (when it slides past).
  if (t > now) return t;
  if (t + test.ms > now) return t + test.ms;
  return null;
}
