/**
 * The event table that funnels and paths run on: the log's events in columns of typed arrays,
 * grouped by profile and in time order within each profile, with the few event properties a
 * query reads kept as dictionary-coded columns. A query then scans each profile's rows once,
 * testing property filters by a lookup of the value's code instead of walking JSON.
 */

import type { PropertyPath } from '../segments/definition.ts';
import { readPath } from '../segments/values.ts';

/**
 * One event property as a column: each row holds a code, and `values[code]` is the value.
 * Code 0 means the event does not have the property (`values[0]` is `undefined`).
 */
export interface PropertyColumn {
  readonly codes: Int32Array;
  readonly values: readonly unknown[];
}

/**
 * Events in columns. Row order: by profile (profile `p` owns rows `offsets[p]` to
 * `offsets[p + 1] − 1`), then by time, then by the order the events were added.
 */
export interface EventTable {
  readonly length: number;
  /** Profile index → profile id. */
  readonly profileIds: readonly string[];
  /** `profileIds.length + 1` row offsets. */
  readonly offsets: Int32Array;
  /** Name index → event name. */
  readonly names: readonly string[];
  /** Row → name index (−1 for an event without a name). */
  readonly name: Int32Array;
  /** Row → time, ms since the epoch. */
  readonly ts: Float64Array;
  /** The projected properties, by the text of their full path (`properties.category`). */
  readonly columns: ReadonlyMap<string, PropertyColumn>;
}

/** Events in columns, in any order, before they are grouped into an {@link EventTable}. */
export interface ColumnarEvents {
  readonly length: number;
  readonly profileIds: readonly string[];
  /** Row → profile index. */
  readonly profile: Int32Array;
  readonly names: readonly string[];
  readonly name: Int32Array;
  readonly ts: Float64Array;
  readonly columns: ReadonlyMap<string, PropertyColumn>;
}

/** The key of a property path among a table's columns. */
export const columnKey = (path: PropertyPath): string => path.parts.join('.');

/**
 * Groups columnar events by profile and orders each profile's rows by time (ties keep the input
 * order): a counting sort on the profile, then a sort of each profile's rows.
 */
export function groupByProfile(input: ColumnarEvents): EventTable {
  const n = input.length;
  const profiles = input.profileIds.length;
  const offsets = new Int32Array(profiles + 1);
  for (let i = 0; i < n; i++) offsets[input.profile[i]! + 1]!++;
  for (let p = 0; p < profiles; p++) offsets[p + 1]! += offsets[p]!;
  const fill = offsets.slice(0, profiles);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[fill[input.profile[i]!]!++] = i;

  const ts = input.ts;
  let identity = true;
  for (let p = 0; p < profiles; p++) {
    const a = offsets[p]!;
    const b = offsets[p + 1]!;
    // Insertion sort: most profiles are short and most logs arrive nearly in time order.
    if (b - a <= 64) {
      for (let i = a + 1; i < b; i++) {
        const row = order[i]!;
        const t = ts[row]!;
        let j = i - 1;
        while (j >= a && (ts[order[j]!]! > t || (ts[order[j]!]! === t && order[j]! > row))) {
          order[j + 1] = order[j]!;
          j--;
        }
        order[j + 1] = row;
      }
    } else {
      order.subarray(a, b).sort((x, y) => ts[x]! - ts[y]! || x - y);
    }
    if (identity) for (let i = a; i < b; i++) if (order[i] !== i) identity = false;
  }

  if (identity)
    return {
      length: n,
      profileIds: input.profileIds,
      offsets,
      names: input.names,
      name: input.name,
      ts: input.ts,
      columns: input.columns,
    };
  const name = new Int32Array(n);
  const sortedTs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = order[i]!;
    name[i] = input.name[row]!;
    sortedTs[i] = ts[row]!;
  }
  const columns = new Map<string, PropertyColumn>();
  for (const [key, column] of input.columns) {
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) codes[i] = column.codes[order[i]!]!;
    columns.set(key, { codes, values: column.values });
  }
  return {
    length: n,
    profileIds: input.profileIds,
    offsets,
    names: input.names,
    name,
    ts: sortedTs,
    columns,
  };
}

/** Assigns dense codes to values; objects and arrays are told apart by their JSON text. */
class Dictionary {
  readonly values: unknown[] = [undefined];
  private readonly primitives = new Map<unknown, number>();
  private readonly composites = new Map<string, number>();

  code(v: unknown): number {
    if (v === undefined) return 0;
    if (typeof v === 'object' && v !== null) {
      const key = JSON.stringify(v);
      let c = this.composites.get(key);
      if (c === undefined) {
        c = this.values.length;
        this.values.push(v);
        this.composites.set(key, c);
      }
      return c;
    }
    let c = this.primitives.get(v);
    if (c === undefined) {
      c = this.values.length;
      this.values.push(v);
      this.primitives.set(v, c);
    }
    return c;
  }
}

function grow<T extends Int32Array | Float64Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  const next = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2));
  next.set(a);
  return next;
}

/**
 * Collects events one at a time (as a scan of the log yields them) into columns, keeping the
 * given property paths, then groups them into an {@link EventTable}.
 */
export class EventTableBuilder {
  private n = 0;
  private profile = new Int32Array(1024);
  private name = new Int32Array(1024);
  private ts = new Float64Array(1024);
  private readonly profileIndex = new Map<string, number>();
  private readonly profileIds: string[] = [];
  private readonly nameIndex = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly paths: { key: string; parts: readonly string[]; dict: Dictionary; codes: Int32Array }[];

  constructor(paths: readonly PropertyPath[] = []) {
    const seen = new Set<string>();
    this.paths = [];
    for (const p of paths) {
      const key = columnKey(p);
      if (seen.has(key)) continue;
      seen.add(key);
      this.paths.push({ key, parts: p.parts, dict: new Dictionary(), codes: new Int32Array(1024) });
    }
  }

  get length(): number {
    return this.n;
  }

  /** Adds one event; `body` is the whole stored message (`properties`, `context`, …). */
  add(profileId: string, name: string | null, ts: number, body: unknown): void {
    const i = this.n++;
    if (i >= this.profile.length) {
      this.profile = grow(this.profile, i + 1);
      this.name = grow(this.name, i + 1);
      this.ts = grow(this.ts, i + 1);
      for (const p of this.paths) p.codes = grow(p.codes, i + 1);
    }
    let p = this.profileIndex.get(profileId);
    if (p === undefined) {
      p = this.profileIds.length;
      this.profileIds.push(profileId);
      this.profileIndex.set(profileId, p);
    }
    this.profile[i] = p;
    let k = -1;
    if (name !== null) {
      const known = this.nameIndex.get(name);
      if (known === undefined) {
        k = this.names.length;
        this.names.push(name);
        this.nameIndex.set(name, k);
      } else k = known;
    }
    this.name[i] = k;
    this.ts[i] = ts;
    for (const col of this.paths) col.codes[i] = col.dict.code(readPath(body, col.parts));
  }

  build(): EventTable {
    const n = this.n;
    return groupByProfile({
      length: n,
      profileIds: this.profileIds,
      profile: this.profile.subarray(0, n),
      names: this.names,
      name: this.name.subarray(0, n),
      ts: this.ts.subarray(0, n),
      columns: new Map(
        this.paths.map((c) => [c.key, { codes: c.codes.subarray(0, n), values: c.dict.values }]),
      ),
    });
  }
}
