/** Numbers a fact takes in an arena: time, tie-breaker, where its values start (−1: none), name. */
const STRIDE = 4;
const TS = 0;
const TIE = 1;
const VALUES = 2;
const NAME = 3;
/** The smallest block: room for four facts, or four values. */
const MIN_CAPACITY = 4;

/** Distinct values an arena keeps once each, and the longest string it keeps so. */
const MAX_SHARED = 1 << 16;
const MAX_SHARED_LENGTH = 64;

/** The page of a list that holds no block. */
const NO_PAGE = new Float64Array(0);
const NO_INTS = new Int32Array(0);

/**
 * A value that is not a number is kept in a value slot as a NaN whose low 32 bits say where it is
 * (see `ProfileFacts`), written and read through an `Int32Array` over the same memory, so that no
 * conversion of the number can touch those bits. A number kept is never NaN (a NaN value is kept
 * as values that are not numbers are), so a slot holds a reference exactly when it reads as NaN.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = 1 - LO;
const REFERENCE = 0x7ff80001;
/** Values every arena shares, at these places. */
const FIXED = [null, false, true, undefined] as const;

/**
 * Blocks of a power-of-two number of slots, `unit` numbers each, in pages of one `Float64Array`;
 * a block let go of is kept for the next that needs one of its size. The pool grows by a page at a
 * time: one array doubled and copied would stall the engine for seconds at a million profiles (a
 * copy of hundreds of megabytes into memory not yet touched) and keep the old copy until a full
 * collection. A block larger than a page has a page of its own. With `ints`, each page also has
 * an `Int32Array` over its memory.
 */
class BlockPool {
  /** Numbers a page holds. */
  private readonly pageSize: number;
  /** The page being filled, and how far. */
  private page: Float64Array;
  private pageInts: Int32Array;
  private top = 0;
  /** Numbers handed out from pages, free blocks included. */
  private used = 0;
  /** Free blocks by size (index: log2 of the capacity): their pages, and where in them they start. */
  private readonly freePages: Float64Array[][] = [];
  private readonly freeInts: Int32Array[][] = [];
  private readonly freeAt: number[][] = [];
  /** The page of the block `alloc` returned last, and its `Int32Array` (with `ints`). */
  allocated: Float64Array = NO_PAGE;
  allocatedInts: Int32Array = NO_INTS;

  constructor(
    private readonly unit: number,
    pageSlots: number,
    private readonly ints: boolean,
  ) {
    this.pageSize = unit * capacityFor(pageSlots);
    this.page = new Float64Array(this.pageSize);
    this.pageInts = this.intsOf(this.page);
  }

  private intsOf(page: Float64Array): Int32Array {
    return this.ints ? new Int32Array(page.buffer, page.byteOffset, 2 * page.length) : NO_INTS;
  }

  /** Where a new block of `capacity` slots (a power of two) starts, in the page left in `allocated`. */
  alloc(capacity: number): number {
    const i = 31 - Math.clz32(capacity);
    const at = this.freeAt[i]?.pop();
    if (at !== undefined) {
      this.allocated = this.freePages[i]!.pop()!;
      this.allocatedInts = this.freeInts[i]!.pop()!;
      return at;
    }
    const size = this.unit * capacity;
    if (size > this.pageSize) {
      this.used += size;
      this.allocated = new Float64Array(size);
      this.allocatedInts = this.intsOf(this.allocated);
      return 0;
    }
    if (this.top + size > this.pageSize) this.nextPage();
    this.used += size;
    this.allocated = this.page;
    this.allocatedInts = this.pageInts;
    const from = this.top;
    this.top += size;
    return from;
  }

  /** Starts a new page; what was left of the last one becomes free blocks, largest first. */
  private nextPage(): void {
    for (let left = (this.pageSize - this.top) / this.unit; left >= MIN_CAPACITY; ) {
      const capacity = 1 << (31 - Math.clz32(left));
      this.release(this.page, this.pageInts, this.top, capacity);
      this.used += this.unit * capacity;
      this.top += this.unit * capacity;
      left -= capacity;
    }
    this.page = new Float64Array(this.pageSize);
    this.pageInts = this.intsOf(this.page);
    this.top = 0;
  }

  /** Takes back the block at `at` of `page` (and its `ints`), of `capacity` slots. */
  release(page: Float64Array, ints: Int32Array, at: number, capacity: number): void {
    const i = 31 - Math.clz32(capacity);
    const pages = this.freePages[i];
    if (pages === undefined) {
      this.freePages[i] = [page];
      this.freeInts[i] = [ints];
      this.freeAt[i] = [at];
    } else {
      pages.push(page);
      this.freeInts[i]!.push(ints);
      this.freeAt[i]!.push(at);
    }
  }

  /** Slots handed out so far, and how many of them are in free blocks. */
  stats(): { slots: number; free: number } {
    let free = 0;
    for (let i = 0; i < this.freeAt.length; i++) free += (this.freeAt[i]?.length ?? 0) << i;
    return { slots: this.used / this.unit, free };
  }
}

/**
 * What the facts of many lists are kept in: their numbers in blocks of one pool, their projected
 * values in blocks of another (see `ProfileFacts`). A million profiles hold a few facts each; as
 * blocks in a few hundred arrays they are neither millions of objects for the collector to copy
 * and mark nor, when a profile is read, an array header to reach before its numbers. Event names
 * are kept once each, by number; so are values that many facts share (see `reference`), and
 * trait values (see `intern`).
 */
export class FactArena {
  readonly facts: BlockPool;
  readonly values: BlockPool;
  /** Event names by number, and numbers by name. */
  readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  /** Values of facts kept once each, by number (see `reference`), and their numbers. */
  readonly shared: unknown[] = [...FIXED];
  private readonly sharedIds = new Map<unknown, number>();
  /** Values of facts no table shares, each held by one fact of one list, by number; and free numbers. */
  readonly loose: unknown[] = [];
  private readonly looseFree: number[] = [];
  /** Trait values kept once each (see `intern`). */
  private readonly traitValues = new Map<string | number, string | number>();

  constructor(pageFacts = 1 << 16) {
    this.facts = new BlockPool(STRIDE, pageFacts, false);
    this.values = new BlockPool(1, STRIDE * pageFacts, true);
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
   * The copy of a trait value kept once for every profile that holds it: the traits read by
   * definitions are mostly a few of many (a plan, a country), yet each profile brings its own
   * string or boxed number, a million profiles keep millions of them, and every full collection
   * marks each. Small integers, booleans and null are not objects; long strings and values past
   * the table's bound stay as they came. (Traits have a table of their own: one that is unique to
   * each profile, such as an e-mail address, would otherwise fill the table of facts' values.)
   */
  intern<T>(v: T): T {
    if (typeof v === 'string') {
      if (v.length > MAX_SHARED_LENGTH) return v;
    } else if (typeof v !== 'number' || Number.isInteger(v)) return v;
    const key = v as string | number;
    const kept = this.traitValues.get(key);
    if (kept !== undefined) return kept as T;
    if (this.traitValues.size < MAX_SHARED) this.traitValues.set(key, key);
    return v;
  }

  /**
   * Where a fact's value is kept, as a reference (see `REFERENCE`): at or above 0 a place in the
   * table of values many facts share (null, booleans, short strings, NaN; added while there is
   * room), below it a place among the loose values, which the one fact holding it lets go of.
   */
  reference(v: unknown): number {
    const id = this.sharedId(v);
    if (id >= 0) return id;
    const free = this.looseFree.pop();
    if (free !== undefined) {
      this.loose[free] = v;
      return -1 - free;
    }
    this.loose.push(v);
    return -this.loose.length;
  }

  /** The value a reference stands for. */
  referred(ref: number): unknown {
    return ref >= 0 ? this.shared[ref] : this.loose[-1 - ref];
  }

  /** Lets go of what a reference stands for, when no other fact holds it. */
  unref(ref: number): void {
    if (ref >= 0) return;
    this.loose[-1 - ref] = undefined;
    this.looseFree.push(-1 - ref);
  }

  private sharedId(v: unknown): number {
    if (v === null) return 0;
    if (typeof v === 'boolean') return v ? 2 : 1;
    if (v === undefined) return 3;
    if (typeof v === 'string') {
      if (v.length > MAX_SHARED_LENGTH) return -1;
    } else if (typeof v !== 'number') return -1;
    let id = this.sharedIds.get(v);
    if (id === undefined) {
      if (this.shared.length >= MAX_SHARED) return -1;
      id = this.shared.length;
      this.shared.push(v);
      this.sharedIds.set(v, id);
    }
    return id;
  }

  /** Fact slots handed out so far, and how many of them are in free blocks. */
  stats(): { slots: number; free: number } {
    return this.facts.stats();
  }

  /** Loose values held by facts (see `reference`). */
  looseHeld(): number {
    return this.loose.length - this.looseFree.length;
  }
}

/**
 * The smallest power of two, at least four, that holds `n` (up to 2^30). A shift, not `2 **`: a
 * power is a floating-point number to V8, and one stored in a list's capacity (and the offsets
 * made from it) turns those fields into boxed numbers in every list, two more objects per profile
 * for each full collection to mark.
 */
const capacityFor = (n: number): number => (n <= MIN_CAPACITY ? MIN_CAPACITY : 1 << (32 - Math.clz32(n - 1)));

/**
 * What the evaluator keeps of one profile's events, sorted by (time, tie-breaker): the event name,
 * the time, a tie-breaker (a hash of the message id, so events at the same millisecond order the
 * same way whatever order they arrived in) and, for names whose properties a definition reads, the
 * projected values. A profile holds a few facts (five or six in the benchmark's retail world), and
 * a million profiles hold these, so the layout is about memory and about objects:
 *
 * - the numbers of its facts (time, tie-breaker, the name's number, and where the fact's values
 *   start, or −1 for none) are a block of the arena's fact pool, shared by every list of an engine
 *   (see `FactArena`); a list made on its own has an arena of its own;
 * - the projected values of all its facts are side by side in a block of the arena's value pool,
 *   each fact's as their count and then one number each: a number as itself, anything else as a
 *   reference (see `REFERENCE` and `FactArena.reference`) to a value the arena keeps. As a plain
 *   array of their own they were two objects per profile and a boxed object for each fractional
 *   number, for every full collection to mark.
 *
 * The values of a fact inserted out of time order go at the end: only the facts' block keeps the
 * order. A list that never held a fact has no block.
 */
export class ProfileFacts {
  /** The page of its facts' block, and where in it the block starts. */
  private page: Float64Array = NO_PAGE;
  private at = -1;
  private capacity = 0;
  private n = 0;
  /** The page of its values' block (as numbers and as 32-bit halves), where it starts, its room, its use. */
  private vals: Float64Array = NO_PAGE;
  private valInts: Int32Array = NO_INTS;
  private vat = -1;
  private vcapacity = 0;
  private v = 0;

  constructor(private readonly arena: FactArena = new FactArena(MIN_CAPACITY)) {}

  get length(): number {
    return this.n;
  }

  /** The event name of fact `k` (the shared string the definitions use). */
  nameOf(k: number): string {
    return this.arena.names[this.page[this.at + STRIDE * k + NAME]!]!;
  }

  /**
   * The index of its first fact later than `t`, or `length` when none is: facts are kept in time
   * order, so the facts inside a window are those from here on.
   */
  firstAfter(t: number): number {
    const f = this.page;
    const at = this.at;
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f[at + STRIDE * mid + TS]! > t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
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
    if (o < 0 || index >= this.vals[this.vat + o]!) return null;
    return this.valueAt(this.vat + o + 1 + index) ?? null;
  }

  /** The value in slot `p` of the values' page. */
  private valueAt(p: number): unknown {
    const x = this.vals[p]!;
    return !Number.isNaN(x) ? x : this.arena.referred(this.valInts[2 * p + LO]!);
  }

  /** The projected values of fact `k`, as a new array (empty when it has none). */
  valuesOf(k: number): unknown[] {
    const o = this.page[this.at + STRIDE * k + VALUES]!;
    if (o < 0) return [];
    const from = this.vat + o;
    const count = this.vals[from]!;
    const out = new Array<unknown>(count);
    for (let i = 0; i < count; i++) out[i] = this.valueAt(from + 1 + i);
    return out;
  }

  /**
   * Inserts in (ts, tie) order, with `count` values from `values[from]` on; false when the same
   * fact is already there.
   */
  insert(
    name: string,
    ts: number,
    tie: number,
    values: readonly unknown[] | null,
    from = 0,
    count = values === null ? 0 : values.length,
  ): boolean {
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
    if (values !== null && count > 0) {
      o = this.v;
      this.putValues(values, from, count);
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

  private putValues(values: readonly unknown[], from: number, count: number): void {
    const need = this.v + 1 + count;
    if (need > this.vcapacity) this.moveValues(capacityFor(need));
    let p = this.vat + this.v;
    this.vals[p++] = count;
    for (let i = from; i < from + count; i++) this.put(p++, values[i]);
    this.v = need;
  }

  /** Writes one value into slot `p` of the values' page. */
  private put(p: number, value: unknown): void {
    if (typeof value === 'number' && !Number.isNaN(value)) {
      this.vals[p] = value;
      return;
    }
    this.valInts[2 * p + LO] = this.arena.reference(value);
    this.valInts[2 * p + HI] = REFERENCE;
  }

  /** Moves the facts to a block of `capacity` (none for 0), letting the old one go. */
  private move(capacity: number): void {
    const pool = this.arena.facts;
    const from = this.at;
    const had = this.capacity;
    const old = this.page;
    const at = capacity > 0 ? pool.alloc(capacity) : -1;
    const page = capacity > 0 ? pool.allocated : NO_PAGE;
    for (let i = 0; i < STRIDE * this.n; i++) page[at + i] = old[from + i]!;
    if (had > 0) pool.release(old, NO_INTS, from, had);
    this.page = page;
    this.at = at;
    this.capacity = capacity;
  }

  /** Moves the values to a block of `capacity` (none for 0) as they are, letting the old one go. */
  private moveValues(capacity: number): void {
    const pool = this.arena.values;
    const from = this.vat;
    const had = this.vcapacity;
    const old = this.valInts;
    const at = capacity > 0 ? pool.alloc(capacity) : -1;
    const ints = capacity > 0 ? pool.allocatedInts : NO_INTS;
    // Copied as 32-bit halves: a reference is a NaN, whose bits a copy as numbers need not keep.
    for (let i = 0; i < 2 * this.v; i++) ints[2 * at + i] = old[2 * from + i]!;
    if (had > 0) pool.release(this.vals, old, from, had);
    this.vals = capacity > 0 ? pool.allocated : NO_PAGE;
    this.valInts = ints;
    this.vat = at;
    this.vcapacity = capacity;
  }

  /** Lets go of every fact and of the blocks that held them (the list is empty after). */
  clear(): void {
    this.n = 0;
    this.move(0);
    // Every slot in use is a count, a value of a fact held, or one of a fact already let go of.
    this.unrefValues(0, this.v);
    this.v = 0;
    this.moveValues(0);
  }

  /** Lets go of the values that slots `from` to `to` (exclusive) of the values' block refer to. */
  private unrefValues(from: number, to: number): void {
    for (let p = this.vat + from; p < this.vat + to; p++) {
      const x = this.vals[p]!;
      if (Number.isNaN(x)) this.arena.unref(this.valInts[2 * p + LO]!);
    }
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
        const o = f[p + VALUES]!;
        if (o >= 0) {
          valuesDropped = true;
          this.unrefValues(o + 1, o + 1 + this.vals[this.vat + o]!);
        }
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
    if (valuesDropped) this.packValues();
  }

  /** Packs the values of the facts held into a block of their size, in fact order. */
  private packValues(): void {
    let size = 0;
    for (let k = 0; k < this.n; k++) {
      const o = this.page[this.at + STRIDE * k + VALUES]!;
      if (o >= 0) size += 1 + this.vals[this.vat + o]!;
    }
    const pool = this.arena.values;
    const oldInts = this.valInts;
    const oldAt = this.vat;
    const oldCapacity = this.vcapacity;
    const oldVals = this.vals;
    const capacity = size > 0 ? capacityFor(size) : 0;
    const at = capacity > 0 ? pool.alloc(capacity) : -1;
    const ints = capacity > 0 ? pool.allocatedInts : NO_INTS;
    let to = 0;
    for (let k = 0; k < this.n; k++) {
      const p = this.at + STRIDE * k + VALUES;
      const o = this.page[p]!;
      if (o < 0) continue;
      this.page[p] = to;
      const count = oldVals[oldAt + o]!;
      // As 32-bit halves, references included: each stays the one fact's it was.
      for (let i = 0; i < 2 * (1 + count); i++) ints[2 * (at + to) + i] = oldInts[2 * (oldAt + o) + i]!;
      to += 1 + count;
    }
    if (oldCapacity > 0) pool.release(oldVals, oldInts, oldAt, oldCapacity);
    this.vals = capacity > 0 ? pool.allocated : NO_PAGE;
    this.valInts = ints;
    this.vat = at;
    this.vcapacity = capacity;
    this.v = to;
  }
}
