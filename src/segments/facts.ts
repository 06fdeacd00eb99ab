/** Numbers a fact takes in an arena: time, tie-breaker, where its values start (−1: none), name. */
const STRIDE = 4;
const TS = 0;
const TIE = 1;
const VALUES = 2;
const NAME = 3;
/** The smallest block: room for four facts. */
const MIN_CAPACITY = 4;

/** Distinct values an arena keeps once each, and the longest string it keeps so. */
const MAX_SHARED = 1 << 16;
const MAX_SHARED_LENGTH = 64;

const NO_VALUES: unknown[] = [];
/** The page of a list that holds no block. */
const NO_PAGE = new Float64Array(0);

/**
 * The facts of many lists, in pages of one `Float64Array` each: a list holds a block of a
 * power-of-two number of facts within a page, and a block let go of is kept for the next list that
 * needs one of its size. A million profiles hold a few facts each; as blocks in a few hundred
 * arrays they are neither a million objects for the collector to copy and mark nor, when a profile
 * is read, an array header to reach before its numbers. The arena grows by a page at a time: one
 * array doubled and copied would stall the engine for seconds at a million profiles (a copy of
 * hundreds of megabytes into memory not yet touched) and keep the old copy until a full
 * collection. A block larger than a page has a page of its own. Event names are kept once each,
 * by number.
 */
export class FactArena {
  /** Numbers a page holds (a power of two of facts). */
  private readonly pageSize: number;
  /** The page being filled, and how far. */
  private page: Float64Array;
  private top = 0;
  /** Numbers handed out from pages, free blocks included. */
  private used = 0;
  /** Free blocks by size (index: log2 of the capacity): their pages, and where in them they start. */
  private readonly freePages: Float64Array[][] = [];
  private readonly freeAt: number[][] = [];
  /** The page of the block `alloc` returned last. */
  allocated: Float64Array = NO_PAGE;
  /** Event names by number, and numbers by name. */
  readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  /** Values kept once each (see `intern`). */
  private readonly shared = new Map<string | number, string | number>();

  constructor(pageFacts = 1 << 16) {
    this.pageSize = STRIDE * capacityFor(pageFacts);
    this.page = new Float64Array(this.pageSize);
  }

  /** The number of an event name (the same string each time: the definitions' own). */
  idOf(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    return id;
  }

  /**
   * The copy of a value kept once for every fact and profile that holds it: the values read by
   * definitions are mostly a few of many (a category, a campaign, a plan, a price), yet each event
   * brings its own string or boxed number, a million profiles keep millions of them, and every
   * full collection marks each. Small integers, booleans and null are not objects; long strings
   * and values past the table's bound stay as they came.
   */
  intern<T>(v: T): T {
    if (typeof v === 'string') {
      if (v.length > MAX_SHARED_LENGTH) return v;
    } else if (typeof v !== 'number' || Number.isInteger(v)) return v;
    const key = v as string | number;
    const kept = this.shared.get(key);
    if (kept !== undefined) return kept as T;
    if (this.shared.size < MAX_SHARED) this.shared.set(key, key);
    return v;
  }

  /** Where a new block for `capacity` facts (a power of two) starts, in the page left in `allocated`. */
  alloc(capacity: number): number {
    const i = 31 - Math.clz32(capacity);
    const at = this.freeAt[i]?.pop();
    if (at !== undefined) {
      this.allocated = this.freePages[i]!.pop()!;
      return at;
    }
    const size = STRIDE * capacity;
    if (size > this.pageSize) {
      this.used += size;
      this.allocated = new Float64Array(size);
      return 0;
    }
    if (this.top + size > this.pageSize) this.nextPage();
    this.used += size;
    this.allocated = this.page;
    const from = this.top;
    this.top += size;
    return from;
  }

  /** Starts a new page; what was left of the last one becomes free blocks, largest first. */
  private nextPage(): void {
    for (let left = (this.pageSize - this.top) / STRIDE; left >= MIN_CAPACITY; ) {
      const capacity = 1 << (31 - Math.clz32(left));
      this.release(this.page, this.top, capacity);
      this.used += STRIDE * capacity;
      this.top += STRIDE * capacity;
      left -= capacity;
    }
    this.page = new Float64Array(this.pageSize);
    this.top = 0;
  }

  /** Takes back the block at `at` of `page`, of `capacity` facts. */
  release(page: Float64Array, at: number, capacity: number): void {
    const i = 31 - Math.clz32(capacity);
    const pages = this.freePages[i];
    if (pages === undefined) {
      this.freePages[i] = [page];
      this.freeAt[i] = [at];
    } else {
      pages.push(page);
      this.freeAt[i]!.push(at);
    }
  }

  /** Fact slots handed out so far, and how many of them are in free blocks. */
  stats(): { slots: number; free: number } {
    let free = 0;
    for (let i = 0; i < this.freeAt.length; i++) free += (this.freeAt[i]?.length ?? 0) << i;
    return { slots: this.used / STRIDE, free };
  }
}

/**
 * The smallest power of two, at least four, that holds `n` (up to 2^30). A shift, not `2 **`: a
 * power is a floating-point number to V8, and one stored in a list's capacity (and the offsets
 * made from it) turns those fields into boxed numbers in every list, two more objects per profile
 * for each full collection to mark.
 */
const capacityFor = (n: number): number => (n <= MIN_CAPACITY ? MIN_CAPACITY : 1 << (32 - Math.clz32(n - 1)));

/** Room for a few more values: what `vals` grows to when full (half again, and four). */
const roomFor = (n: number): number => n + (n >> 1) + 4;

/**
 * What the evaluator keeps of one profile's events, sorted by (time, tie-breaker): the event name,
 * the time, a tie-breaker (a hash of the message id, so events at the same millisecond order the
 * same way whatever order they arrived in) and, for names whose properties a definition reads, the
 * projected values. A profile holds a few facts (five or six in the benchmark's retail world), and
 * a million profiles hold these, so the layout is about memory:
 *
 * - the numbers of its facts (time, tie-breaker, the name's number, and where the fact's values
 *   start in `vals`, after their count, or −1 for none) are a block of an arena shared by every
 *   list of an engine (see `FactArena`); a list made on its own has an arena of its own;
 * - `vals` holds the projected values of all facts side by side (read fact after fact when
 *   evaluating), sized here, growing by half and four slots: a plain array's own growth leaves at
 *   least 16 empty slots, which for a handful of facts is most of what it holds.
 *
 * The values of a fact inserted out of time order go at the end of `vals`: only the block keeps
 * the order. A list that never held a fact has no block and shares an empty `vals`.
 */
export class ProfileFacts {
  /** The page of its block, and where in it the block starts. */
  private page: Float64Array = NO_PAGE;
  private at = -1;
  private capacity = 0;
  private vals: unknown[] = NO_VALUES;
  private n = 0;
  private v = 0;

  constructor(private readonly arena: FactArena = new FactArena(MIN_CAPACITY)) {}

  get length(): number {
    return this.n;
  }

  /** The event name of fact `k` (the shared string the definitions use). */
  nameOf(k: number): string {
    return this.arena.names[this.page[this.at + STRIDE * k + NAME]!]!;
  }

  /** The time of fact `k`, ms since the epoch. */
  ts(k: number): number {
    return this.page[this.at + STRIDE * k + TS]!;
  }

  /** The tie-breaker of fact `k`. */
  tie(k: number): number {
    return this.page[this.at + STRIDE * k + TIE]!;
  }

  /** The projected value at `index` of fact `k` (null when it has none there). */
  value(k: number, index: number): unknown {
    const o = this.page[this.at + STRIDE * k + VALUES]!;
    if (o < 0 || index >= (this.vals[o] as number)) return null;
    return this.vals[o + 1 + index] ?? null;
  }

  /** The projected values of fact `k`, as a new array (empty when it has none). */
  valuesOf(k: number): unknown[] {
    const o = this.page[this.at + STRIDE * k + VALUES]!;
    return o < 0 ? [] : this.vals.slice(o + 1, o + 1 + (this.vals[o] as number));
  }

  /** Inserts in (ts, tie) order; false when the same fact is already there. */
  insert(name: string, ts: number, tie: number, values: readonly unknown[] | null): boolean {
    const n = this.n;
    const arena = this.arena;
    const id = arena.idOf(name);
    let f = this.page;
    let lo = n;
    if (n > 0) {
      const last = this.at + STRIDE * (n - 1);
      const lastTs = f[last + TS]!;
      if (!(lastTs < ts || (lastTs === ts && f[last + TIE]! < tie))) {
        lo = 0;
        let hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          const t = f[this.at + STRIDE * mid + TS]!;
          if (t < ts || (t === ts && f[this.at + STRIDE * mid + TIE]! < tie)) lo = mid + 1;
          else hi = mid;
        }
        for (let k = lo; k < n; k++) {
          const p = this.at + STRIDE * k;
          if (f[p + TS] !== ts || f[p + TIE] !== tie) break;
          if (f[p + NAME] === id) return false;
        }
      }
    }
    let o = -1;
    if (values !== null && values.length > 0) {
      o = this.v;
      this.putValues(values);
    }
    if (n === this.capacity) {
      this.move(capacityFor(n + 1));
      f = this.page;
    }
    const p = this.at + STRIDE * lo;
    // A few numbers to shift: a loop, not `copyWithin` (a call into the runtime each time).
    for (let i = this.at + STRIDE * n - 1; i >= p; i--) f[i + STRIDE] = f[i]!;
    f[p + TS] = ts;
    f[p + TIE] = tie;
    f[p + VALUES] = o;
    f[p + NAME] = id;
    this.n = n + 1;
    return true;
  }

  private putValues(values: readonly unknown[]): void {
    const need = this.v + 1 + values.length;
    if (need > this.vals.length) {
      const vals = new Array<unknown>(roomFor(need));
      for (let i = 0; i < this.v; i++) vals[i] = this.vals[i];
      this.vals = vals;
    }
    const vals = this.vals;
    vals[this.v++] = values.length;
    for (let i = 0; i < values.length; i++) vals[this.v++] = this.arena.intern(values[i]);
  }

  /** Moves the facts to a block of `capacity` (none for 0), letting the old one go. */
  private move(capacity: number): void {
    const arena = this.arena;
    const from = this.at;
    const had = this.capacity;
    const old = this.page;
    const at = capacity > 0 ? arena.alloc(capacity) : -1;
    const page = capacity > 0 ? arena.allocated : NO_PAGE;
    for (let i = 0; i < STRIDE * this.n; i++) page[at + i] = old[from + i]!;
    if (had > 0) arena.release(old, from, had);
    this.page = page;
    this.at = at;
    this.capacity = capacity;
  }

  /** Lets go of every fact and of the block that held them (the list is empty after). */
  clear(): void {
    this.n = 0;
    this.move(0);
    this.vals = NO_VALUES;
    this.v = 0;
  }

  /** Keeps only the facts `keep` says yes to (in place); the values kept are packed anew. */
  retain(keep: (name: string, ts: number) => boolean): void {
    const f = this.page;
    const names = this.arena.names;
    let w = 0;
    let valuesDropped = false;
    for (let k = 0; k < this.n; k++) {
      const p = this.at + STRIDE * k;
      if (!keep(names[f[p + NAME]!]!, f[p + TS]!)) {
        if (f[p + VALUES]! >= 0) valuesDropped = true;
        continue;
      }
      if (w !== k) {
        const q = this.at + STRIDE * w;
        f[q + TS] = f[p + TS]!;
        f[q + TIE] = f[p + TIE]!;
        f[q + VALUES] = f[p + VALUES]!;
        f[q + NAME] = f[p + NAME]!;
      }
      w++;
    }
    this.n = w;
    // Let go of room that is mostly empty now (pruning can drop most of a profile's facts).
    if (w === 0) this.move(0);
    else if (this.capacity > 2 * capacityFor(w)) this.move(capacityFor(w));
    if (!valuesDropped) return;
    const from = this.vals;
    let size = 0;
    for (let k = 0; k < w; k++) {
      const o = this.page[this.at + STRIDE * k + VALUES]!;
      if (o >= 0) size += 1 + (from[o] as number);
    }
    if (size === 0) {
      this.vals = NO_VALUES;
      this.v = 0;
      return;
    }
    const vals = new Array<unknown>(roomFor(size));
    let to = 0;
    for (let k = 0; k < w; k++) {
      const p = this.at + STRIDE * k + VALUES;
      const o = this.page[p]!;
      if (o < 0) continue;
      this.page[p] = to;
      const count = from[o] as number;
      for (let i = 0; i <= count; i++) vals[to++] = from[o + i];
    }
    this.vals = vals;
    this.v = to;
  }
}
