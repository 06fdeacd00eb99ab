/**
 * Customer paths in a compact columnar form for attribution: channel names interned to small
 * integers, every path's touches in one Int32Array. A million paths take tens of megabytes
 * instead of the hundreds that arrays of strings would.
 */

/** Aggregated customer paths: path `r` is `touches[offsets[r] .. offsets[r + 1])`. */
export interface PathTable {
  /** Channel id → name. */
  readonly channels: readonly string[];
  readonly rows: number;
  /** rows + 1 offsets into `touches`. */
  readonly offsets: Int32Array;
  /** Channel ids of every touch, path after path. */
  readonly touches: Int32Array;
  /** Conversions of the customers who took each path. */
  readonly conversions: Float64Array;
  /** Conversion value of each path. */
  readonly values: Float64Array;
  /** Customers who took each path and did not convert. */
  readonly nulls: Float64Array;
  /**
   * Days from each touch to the conversion, aligned with `touches`; `null` when the paths carry
   * no times (aggregated path files). NaN marks an unknown age.
   */
  readonly ageDays: Float64Array | null;
}

/** One path as plain values (tests, small callers). */
export interface PathRow {
  readonly channels: readonly string[];
  readonly conversions: number;
  readonly value?: number;
  readonly nulls?: number;
  /** Days from each touch to the conversion, same length as `channels`. */
  readonly ageDays?: readonly number[];
}

/** Thrown when a path is malformed (no channels, ages of the wrong length, bad counts). */
export class PathError extends Error {
  override name = 'PathError';
}

/** Builds a {@link PathTable} path by path, growing its arrays as needed. */
export class PathTableBuilder {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  private rows = 0;
  private offsets = new Int32Array(1024);
  private touches = new Int32Array(4096);
  private touchCount = 0;
  private conversions = new Float64Array(1024);
  private values = new Float64Array(1024);
  private nulls = new Float64Array(1024);
  private ages: Float64Array | null = null;

  /** The id of a channel name, interning it on first sight. */
  channelId(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  /** Adds one path of channel ids (see {@link channelId}). */
  addIds(
    ids: ArrayLike<number>,
    conversions: number,
    value: number,
    nulls: number,
    ageDays?: ArrayLike<number>,
  ): void {
    if (ids.length === 0) throw new PathError('a path needs at least one channel');
    if (!(conversions >= 0) || !(nulls >= 0) || !Number.isFinite(conversions + nulls))
      throw new PathError('conversions and nulls must be non-negative numbers');
    if (!Number.isFinite(value)) throw new PathError('value must be a finite number');
    if (ageDays !== undefined && ageDays.length !== ids.length)
      throw new PathError('ageDays must have one entry per channel');
    if (this.rows + 2 > this.offsets.length) {
      const size = this.offsets.length * 2;
      this.offsets = grow(this.offsets, size);
      this.conversions = grow(this.conversions, size);
      this.values = grow(this.values, size);
      this.nulls = grow(this.nulls, size);
    }
    const needed = this.touchCount + ids.length;
    if (needed > this.touches.length) {
      const size = Math.max(needed, this.touches.length * 2);
      this.touches = grow(this.touches, size);
      if (this.ages) this.ages = grow(this.ages, size, Number.NaN);
    }
    if (ageDays !== undefined && this.ages === null) {
      this.ages = new Float64Array(this.touches.length).fill(Number.NaN);
    }
    for (let i = 0; i < ids.length; i++) {
      this.touches[this.touchCount + i] = ids[i]!;
      if (this.ages) this.ages[this.touchCount + i] = ageDays?.[i] ?? Number.NaN;
    }
    this.touchCount = needed;
    this.conversions[this.rows] = conversions;
    this.values[this.rows] = value;
    this.nulls[this.rows] = nulls;
    this.rows++;
    this.offsets[this.rows] = this.touchCount;
  }

  /** Adds one path of channel names. */
  add(row: PathRow): void {
    this.addIds(
      row.channels.map((c) => this.channelId(c)),
      row.conversions,
      row.value ?? 0,
      row.nulls ?? 0,
      row.ageDays,
    );
  }

  build(): PathTable {
    return {
      channels: this.names.slice(),
      rows: this.rows,
      offsets: this.offsets.slice(0, this.rows + 1),
      touches: this.touches.slice(0, this.touchCount),
      conversions: this.conversions.slice(0, this.rows),
      values: this.values.slice(0, this.rows),
      nulls: this.nulls.slice(0, this.rows),
      ageDays: this.ages ? this.ages.slice(0, this.touchCount) : null,
    };
  }
}

function grow<T extends Int32Array | Float64Array>(a: T, size: number, fill = 0): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/** A path table from plain rows. */
export function pathTable(rows: Iterable<PathRow>): PathTable {
  const b = new PathTableBuilder();
  for (const r of rows) b.add(r);
  return b.build();
}
