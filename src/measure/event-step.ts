/**
 * One step of a funnel or the anchor of a path query: an event name with property filters,
 * written in the `where` grammar of segment definitions (`{"property": "revenue", "op": "gt",
 * "value": 50}`, dotted paths) and checked by the same code, then compiled against an
 * {@link EventTable} so that testing a row is a few array lookups.
 */

import {
  type Checked,
  checkSegment,
  type DefinitionError,
  type EventMatcher,
} from '../segments/definition.ts';
import { parseDuration } from '../segments/duration.ts';
import { passes } from '../segments/values.ts';
import { columnKey, type EventTable } from './event-table.ts';

type Obj = Record<string, unknown>;
export const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Prefixes the paths of errors reported for a part of a request. */
export const under = (prefix: string, errors: readonly DefinitionError[]): DefinitionError[] =>
  errors.map((e) => ({ path: e.path === '' ? prefix : `${prefix}.${e.path}`, message: e.message }));

/** Checks `{"event": …, "where": […]}` with the segment grammar; other keys are errors. */
export function checkEventStep(v: unknown, path: string): Checked<EventMatcher> {
  if (!isObject(v))
    return {
      ok: false,
      errors: [{ path, message: 'must be an object like {"event": "Order Completed", "where": [...]}' }],
    };
  const errors: DefinitionError[] = [];
  for (const k of Object.keys(v))
    if (k !== 'event' && k !== 'where')
      errors.push({ path: `${path}.${k}`, message: 'is not an allowed key here (allowed: event, where)' });
  const checked = checkSegment(
    v.where === undefined ? { event: v.event } : { event: v.event, where: v.where },
  );
  if (!checked.ok) return { ok: false, errors: [...errors, ...under(path, checked.errors)] };
  if (errors.length > 0 || checked.value.kind !== 'event') return { ok: false, errors };
  return { ok: true, value: checked.value.match };
}

/** A duration field (`"7d"`, `"12h"`); `fallback` when absent. */
export function checkDuration(
  v: unknown,
  path: string,
  fallback: number | null,
  errors: DefinitionError[],
): number | null {
  if (v === undefined || v === null) return fallback;
  const ms = parseDuration(v);
  if (ms === null)
    errors.push({
      path,
      message: `must be a duration such as "30d", "12h", "90m", "45s" or "2w", not ${JSON.stringify(v)}`,
    });
  return ms;
}

/** An optional ISO 8601 time or epoch milliseconds. */
export function checkTime(v: unknown, path: string, errors: DefinitionError[]): number | null {
  if (v === undefined || v === null) return null;
  const t = typeof v === 'string' ? Date.parse(v) : typeof v === 'number' ? v : Number.NaN;
  if (!Number.isFinite(t)) {
    errors.push({ path, message: `must be an ISO 8601 date or time, not ${JSON.stringify(v)}` });
    return null;
  }
  return t;
}

/** An optional whole number in [min, max]. */
export function checkInteger(
  v: unknown,
  path: string,
  min: number,
  max: number,
  fallback: number,
  errors: DefinitionError[],
): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    errors.push({ path, message: `must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}` });
    return fallback;
  }
  return v;
}

/** Thrown when a query runs on a table that lacks a column its filters read (a bug in the caller). */
export class MissingColumnError extends Error {
  override name = 'MissingColumnError';
}

/** A step compiled against a table. `nameId` is −1 when the table has no event of that name. */
export interface CompiledStep {
  readonly nameId: number;
  readonly filters: readonly { readonly codes: Int32Array; readonly pass: Uint8Array }[];
}

export function compileStep(table: EventTable, m: EventMatcher): CompiledStep {
  const nameId = table.names.indexOf(m.event);
  const filters = m.where.map((w) => {
    const column = table.columns.get(columnKey(w.path));
    if (column === undefined) throw new MissingColumnError(`the event table has no column ${w.path.text}`);
    const pass = new Uint8Array(column.values.length);
    // Property tests never read the clock (within_last is refused for properties).
    for (let c = 0; c < pass.length; c++) pass[c] = passes(w.test, column.values[c], 0) ? 1 : 0;
    return { codes: column.codes, pass };
  });
  return { nameId, filters };
}

/** Whether row `i` of the table is an event of the step (its name, every filter passing). */
export function rowMatches(step: CompiledStep, name: Int32Array, i: number): boolean {
  if (name[i] !== step.nameId) return false;
  for (const f of step.filters) if (f.pass[f.codes[i]!] === 0) return false;
  return true;
}

/** The property paths a set of matchers reads, for {@link EventTableBuilder}. */
export function pathsOf(matchers: readonly EventMatcher[]) {
  return matchers.flatMap((m) => m.where.map((w) => w.path));
}
