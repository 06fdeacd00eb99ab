/**
 * Funnels: ordered steps (events with property filters) that a profile completes in order within
 * a conversion window. Pure: runs on an {@link EventTable}; the caller reads the log.
 *
 * Definition (docs/measurement.md, "Funnels"). A profile enters the funnel with an event of step 1
 * (its *start*). From a start at time t1, each later step is matched greedily by the earliest event
 * of that step strictly after the previous step's event and at most `window` after t1; the
 * attempt's depth is the number of steps matched. A profile's depth is the greatest depth over all
 * its starts, and its *attempt* is the earliest start reaching that depth; the attempt's times
 * give the time to convert, and the attempt's step-1 event gives the breakdown value.
 * Taking the earliest next event is optimal for a start: no other choice reaches further.
 */

import type { Checked, DefinitionError, EventMatcher, PropertyPath } from '../segments/definition.ts';
import { propertyPath } from '../segments/definition.ts';
import {
  checkDuration,
  checkEventStep,
  checkInteger,
  checkTime,
  compileStep,
  isObject,
  pathsOf,
} from './event-step.ts';
import { columnKey, type EventTable } from './event-table.ts';

export const MAX_FUNNEL_STEPS = 20;
const DEFAULT_WINDOW_MS = 30 * 86_400_000;

export interface FunnelDefinition {
  readonly steps: readonly EventMatcher[];
  /** Step k must happen at most this long after step 1. */
  readonly windowMs: number;
  /** Group profiles by this property of their attempt's step-1 event. */
  readonly breakdown: PropertyPath | null;
  /** At most this many breakdown groups, the largest; default 50. */
  readonly breakdownLimit: number;
  /** Only starts at or after this time (ms) count. */
  readonly since: number | null;
  /** Only starts before this time (ms) count. */
  readonly until: number | null;
}

/** The property paths a funnel reads: build the table with these columns. */
export function funnelPaths(def: FunnelDefinition): PropertyPath[] {
  return [...pathsOf(def.steps), ...(def.breakdown ? [def.breakdown] : [])];
}

/**
 * Checks a funnel request body: `{"steps": [{"event", "where"?}, …], "window"?: "30d",
 * "breakdown"?: "category", "breakdownLimit"?: 50, "since"?, "until"?}`. Every problem is named by
 * its path (`steps[1].where[0].op`).
 */
export function checkFunnel(body: unknown): Checked<FunnelDefinition> {
  if (!isObject(body))
    return { ok: false, errors: [{ path: '', message: 'must be a JSON object with "steps"' }] };
  const errors: DefinitionError[] = [];
  for (const k of Object.keys(body))
    if (!['steps', 'window', 'breakdown', 'breakdownLimit', 'since', 'until'].includes(k))
      errors.push({
        path: k,
        message: 'is not an allowed key (allowed: steps, window, breakdown, breakdownLimit, since, until)',
      });
  const steps: EventMatcher[] = [];
  if (!Array.isArray(body.steps) || body.steps.length < 2)
    errors.push({
      path: 'steps',
      message: 'must be an array of at least two steps like {"event": "Product Viewed"}',
    });
  else if (body.steps.length > MAX_FUNNEL_STEPS)
    errors.push({ path: 'steps', message: `must hold at most ${MAX_FUNNEL_STEPS} steps` });
  else
    for (const [i, s] of body.steps.entries()) {
      const c = checkEventStep(s, `steps[${i}]`);
      if (c.ok) steps.push(c.value);
      else errors.push(...c.errors);
    }
  const windowMs = checkDuration(body.window, 'window', DEFAULT_WINDOW_MS, errors);
  let breakdown: PropertyPath | null = null;
  if (body.breakdown !== undefined && body.breakdown !== null) {
    if (typeof body.breakdown !== 'string' || body.breakdown.trim() === '' || body.breakdown.length > 200)
      errors.push({ path: 'breakdown', message: 'must be a dotted property path such as "category"' });
    else breakdown = propertyPath(body.breakdown.trim());
  }
  const breakdownLimit = checkInteger(body.breakdownLimit, 'breakdownLimit', 1, 1000, 50, errors);
  const since = checkTime(body.since, 'since', errors);
  const until = checkTime(body.until, 'until', errors);
  if (errors.length > 0 || windowMs === null) return { ok: false, errors };
  return { ok: true, value: { steps, windowMs, breakdown, breakdownLimit, since, until } };
}

export interface FunnelStepResult {
  /** 1-based. */
  readonly step: number;
  readonly event: string;
  /** Profiles that reached this step. */
  readonly count: number;
  /** count / profiles that entered; `null` when nobody entered. */
  readonly conversionRate: number | null;
  /** count / count of the previous step (1 for step 1); `null` when the previous step is 0. */
  readonly stepConversionRate: number | null;
  /** Profiles that reached the previous step but not this one (0 for step 1). */
  readonly dropOff: number;
  /** Median of (this step's time − step 1's time) in ms; `null` for step 1 or nobody. */
  readonly medianTimeToConvertMs: number | null;
  /** Median of (this step's time − the previous step's time) in ms; `null` for step 1 or nobody. */
  readonly medianTimeFromPreviousMs: number | null;
}

export interface FunnelGroup {
  /** The breakdown property's value (`null` when the event does not have it). */
  readonly value: unknown;
  readonly steps: FunnelStepResult[];
}

export interface FunnelResult {
  readonly windowMs: number;
  /** Profiles with a step-1 event (within since / until). */
  readonly entered: number;
  /** Profiles that completed every step. */
  readonly converted: number;
  /** converted / entered; `null` when nobody entered. */
  readonly conversionRate: number | null;
  readonly steps: FunnelStepResult[];
  readonly breakdown: {
    readonly property: string;
    readonly groups: FunnelGroup[];
    /** Groups left out beyond the limit (the smallest). */
    readonly omittedGroups: number;
  } | null;
}

/**
 * Moves the k-th smallest of `v[lo..hi]` to index k, smaller ones before it and larger ones after
 * (Hoare's quickselect with a median-of-three pivot): linear time, where sorting a million
 * times to take one value from the middle would cost far more.
 */
function select(v: Float64Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    const a = v[lo]!;
    const b = v[mid]!;
    const c = v[hi]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (v[i]! < pivot) i++;
      while (v[j]! > pivot) j--;
      if (i <= j) {
        const t = v[i]!;
        v[i] = v[j]!;
        v[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** The median of `values[0..n)` (reordered in place); the mean of the two middle values for even n. */
export function median(values: Float64Array, n: number): number | null {
  if (n === 0) return null;
  const mid = n >> 1;
  select(values, 0, n - 1, mid);
  const upper = values[mid]!;
  if (n % 2 === 1) return upper;
  // The lower middle value is the largest of the part before mid.
  let lower = values[0]!;
  for (let i = 1; i < mid; i++) if (values[i]! > lower) lower = values[i]!;
  return (lower + upper) / 2;
}

/** Per-profile outcome of the scan: depth and the attempt's step times, in flat typed arrays. */
interface Outcomes {
  /** Profiles that entered. */
  count: number;
  depth: Uint8Array;
  /** times[i * K + k]: time of step k of entered profile i. */
  times: Float64Array;
  /** Row of the attempt's step-1 event. */
  startRow: Int32Array;
}

/** The per-profile scan: the heart of the funnel, O(rows × steps). */
function scan(table: EventTable, def: FunnelDefinition): Outcomes {
  const K = def.steps.length;
  const compiled = def.steps.map((s) => compileStep(table, s));
  const { name, ts, offsets } = table;
  const since = def.since ?? Number.NEGATIVE_INFINITY;
  const until = def.until ?? Number.POSITIVE_INFINITY;
  const windowMs = def.windowMs;

  // For each event name: a bit per step it may satisfy, and whether filters must be checked.
  const nameBits = new Int32Array(table.names.length);
  const filtered: number[] = [];
  for (let s = 0; s < K; s++) {
    const c = compiled[s]!;
    if (c.nameId < 0) continue;
    nameBits[c.nameId]! |= 1 << s;
    if (c.filters.length > 0) filtered.push(s);
  }
  const stepFilters = compiled.map((c) => c.filters);

  const profiles = table.profileIds.length;
  let maxLen = 0;
  for (let p = 0; p < profiles; p++) maxLen = Math.max(maxLen, offsets[p + 1]! - offsets[p]!);
  // Scratch per profile: its relevant rows, their masks and times, next-greater-time and
  // next-occurrence-of-step indexes.
  const lRow = new Int32Array(maxLen);
  const lMask = new Int32Array(maxLen);
  const lTs = new Float64Array(maxLen);
  const nextLater = new Int32Array(maxLen);
  const nextStep = new Int32Array(Math.max(1, K * maxLen));
  const attempt = new Float64Array(K);

  const out: Outcomes = {
    count: 0,
    depth: new Uint8Array(profiles),
    times: new Float64Array(profiles * K),
    startRow: new Int32Array(profiles),
  };

  // Every row's step bits in a few tight passes over the columns: the name, then each filter.
  const rows = table.length;
  const masks = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const nm = name[i]!;
    masks[i] = nm < 0 ? 0 : nameBits[nm]!;
  }
  for (const s of filtered) {
    const bit = 1 << s;
    for (const { codes, pass } of stepFilters[s]!)
      for (let i = 0; i < rows; i++) if (masks[i]! & bit && pass[codes[i]!] === 0) masks[i]! &= ~bit;
  }

  for (let p = 0; p < profiles; p++) {
    const a = offsets[p]!;
    const b = offsets[p + 1]!;
    let n = 0;
    let hasStart = false;
    for (let i = a; i < b; i++) {
      const mask = masks[i]!;
      if (mask === 0) continue;
      const t = ts[i]!;
      if (mask & 1 && t >= since && t < until) hasStart = true;
      lRow[n] = i;
      lMask[n] = mask;
      lTs[n] = t;
      n++;
    }
    if (!hasStart) continue;

    // nextLater[i]: first relevant row after i with a strictly later time (n if none).
    // nextStep[k * n + i]: first relevant row at or after i that satisfies step k (n if none).
    nextLater[n - 1] = n;
    for (let i = n - 2; i >= 0; i--) nextLater[i] = lTs[i + 1]! > lTs[i]! ? i + 1 : nextLater[i + 1]!;
    for (let k = 1; k < K; k++) {
      const base = k * n;
      const bit = 1 << k;
      let next = n;
      for (let i = n - 1; i >= 0; i--) {
        if (lMask[i]! & bit) next = i;
        nextStep[base + i] = next;
      }
    }

    let bestDepth = 0;
    let bestStart = -1;
    const slot = out.count * K;
    for (let i = 0; i < n && bestDepth < K; i++) {
      if ((lMask[i]! & 1) === 0) continue;
      const t1 = lTs[i]!;
      if (t1 < since || t1 >= until) continue;
      const deadline = t1 + windowMs;
      attempt[0] = t1;
      let cur = i;
      let depth = 1;
      for (let k = 1; k < K; k++) {
        const later = nextLater[cur]!;
        if (later >= n) break;
        const j = nextStep[k * n + later]!;
        if (j >= n || lTs[j]! > deadline) break;
        attempt[k] = lTs[j]!;
        cur = j;
        depth++;
      }
      if (depth > bestDepth) {
        bestDepth = depth;
        bestStart = i;
        for (let k = 0; k < depth; k++) out.times[slot + k] = attempt[k]!;
      }
    }
    out.depth[out.count] = bestDepth;
    out.startRow[out.count] = lRow[bestStart]!;
    out.count++;
  }
  return out;
}

/** Step results from the outcomes of the entered profiles listed in `members`. */
function summarize(
  def: FunnelDefinition,
  o: Outcomes,
  members: Int32Array | null,
  size: number,
  scratch: Float64Array,
  scratchFromPrevious: Float64Array,
): FunnelStepResult[] {
  const K = def.steps.length;
  const counts = new Array<number>(K).fill(0);
  for (let m = 0; m < size; m++) {
    const i = members === null ? m : members[m]!;
    const d = o.depth[i]!;
    for (let k = 0; k < d; k++) counts[k]!++;
  }
  const entered = counts[0]!;
  return def.steps.map((s, k) => {
    let medianToConvert: number | null = null;
    let medianFromPrevious: number | null = null;
    if (k > 0) {
      let n = 0;
      for (let m = 0; m < size; m++) {
        const i = members === null ? m : members[m]!;
        if (o.depth[i]! <= k) continue;
        const base = i * K;
        scratch[n] = o.times[base + k]! - o.times[base]!;
        scratchFromPrevious[n] = o.times[base + k]! - o.times[base + k - 1]!;
        n++;
      }
      medianToConvert = median(scratch, n);
      medianFromPrevious = median(scratchFromPrevious, n);
    }
    const count = counts[k]!;
    const previous = k === 0 ? count : counts[k - 1]!;
    return {
      step: k + 1,
      event: s.event,
      count,
      conversionRate: entered > 0 ? count / entered : null,
      stepConversionRate: previous > 0 ? count / previous : null,
      dropOff: previous - count,
      medianTimeToConvertMs: medianToConvert,
      medianTimeFromPreviousMs: medianFromPrevious,
    };
  });
}

const sortKey = (v: unknown): string => (v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** Runs a funnel over a table built with (at least) the columns of {@link funnelPaths}. */
export function funnel(table: EventTable, def: FunnelDefinition): FunnelResult {
  const K = def.steps.length;
  const o = scan(table, def);
  const scratch = new Float64Array(o.count);
  const scratchFromPrevious = new Float64Array(o.count);
  const steps = summarize(def, o, null, o.count, scratch, scratchFromPrevious);
  const entered = steps[0]?.count ?? 0;
  const converted = steps[K - 1]?.count ?? 0;

  let breakdown: FunnelResult['breakdown'] = null;
  if (def.breakdown !== null) {
    const column = table.columns.get(columnKey(def.breakdown));
    const values = column?.values ?? [undefined];
    // Missing and null are one group, `null`.
    const groupOfCode = new Int32Array(values.length);
    const nullCode = values.indexOf(null);
    for (let c = 0; c < values.length; c++) groupOfCode[c] = c === nullCode ? 0 : c;
    const sizes = new Int32Array(values.length);
    const groupOf = new Int32Array(o.count);
    for (let i = 0; i < o.count; i++) {
      const g = column === undefined ? 0 : groupOfCode[column.codes[o.startRow[i]!]!]!;
      groupOf[i] = g;
      sizes[g]!++;
    }
    const present: number[] = [];
    for (let g = 0; g < sizes.length; g++) if (sizes[g]! > 0) present.push(g);
    const groupValue = (g: number) => (g === 0 ? null : values[g]);
    present.sort((x, y) => {
      const d = sizes[y]! - sizes[x]!;
      if (d !== 0) return d;
      const kx = sortKey(groupValue(x));
      const ky = sortKey(groupValue(y));
      return kx < ky ? -1 : kx > ky ? 1 : 0;
    });
    const kept = present.slice(0, def.breakdownLimit);
    // Members of each kept group, by a counting sort of the entered profiles.
    const start = new Int32Array(values.length + 1);
    for (let i = 0; i < o.count; i++) start[groupOf[i]! + 1]!++;
    for (let g = 0; g < values.length; g++) start[g + 1]! += start[g]!;
    const members = new Int32Array(o.count);
    const fill = start.slice(0, values.length);
    for (let i = 0; i < o.count; i++) members[fill[groupOf[i]!]!++] = i;
    breakdown = {
      property: def.breakdown.text,
      groups: kept.map((g) => ({
        value: groupValue(g) ?? null,
        steps: summarize(
          def,
          o,
          members.subarray(start[g]!, start[g + 1]!),
          sizes[g]!,
          scratch,
          scratchFromPrevious,
        ),
      })),
      omittedGroups: present.length - kept.length,
    };
  }

  return {
    windowMs: def.windowMs,
    entered,
    converted,
    conversionRate: entered > 0 ? converted / entered : null,
    steps,
    breakdown,
  };
}
