/**
 * The arrays of every list that never held a fact, shared: nothing writes into them (the first
 * insert makes arrays of its own), so an empty list allocates nothing.
 */
const NO_NAMES: string[] = [];
const NO_NUMBERS: number[] = [];
const NO_VALUES: unknown[] = [];

/** Room for a few more: what an array of `n` grows to when full (half again, and four). */
const roomFor = (n: number): number => n + (n >> 1) + 4;

/**
 * What the evaluator keeps of one profile's events, sorted by (time, tie-breaker): the event name,
 * the time, a tie-breaker (a hash of the message id, so events at the same millisecond order the
 * same way whatever order they arrived in) and, for names whose properties a definition reads, the
 * projected values. A profile holds a few facts (five or six in the benchmark's retail world), and
 * a million profiles hold these, so the layout is about memory:
 *
 * - three arrays in all, not one per column: `name`; `num`, three numbers a fact (time,
 *   tie-breaker, and where its values start in `vals`, after their count, or −1 for none); and
 *   `vals`, the projected values of all facts side by side (read fact after fact when evaluating;
 *   an array per fact would put each somewhere else on the heap and give the collector an object
 *   per fact);
 * - arrays sized here, growing by half and four slots: a plain array's own growth leaves at least
 *   16 empty slots, which for a handful of facts is most of what it holds.
 *
 * The values of a fact inserted out of time order go at the end of `vals`: only `num` keeps the
 * order. Slots past `length` are unused.
 */
export class ProfileFacts {
  /** The event name of each fact (the shared string the definitions use). */
  name: string[] = NO_NAMES;
  private num: number[] = NO_NUMBERS;
  private vals: unknown[] = NO_VALUES;
  private n = 0;
  private v = 0;

  get length(): number {
    return this.n;
  }

  /** The time of fact `k`, ms since the epoch. */
  ts(k: number): number {
    return this.num[3 * k]!;
  }

  /** The tie-breaker of fact `k`. */
  tie(k: number): number {
    return this.num[3 * k + 1]!;
  }

  /** The projected value at `index` of fact `k` (null when it has none there). */
  value(k: number, index: number): unknown {
    const o = this.num[3 * k + 2]!;
    if (o < 0 || index >= (this.vals[o] as number)) return null;
    return this.vals[o + 1 + index] ?? null;
  }

  /** The projected values of fact `k`, as a new array (empty when it has none). */
  valuesOf(k: number): unknown[] {
    const o = this.num[3 * k + 2]!;
    return o < 0 ? [] : this.vals.slice(o + 1, o + 1 + (this.vals[o] as number));
  }

  /** Inserts in (ts, tie) order; false when the same fact is already there. */
  insert(name: string, ts: number, tie: number, values: readonly unknown[] | null): boolean {
    const n = this.n;
    const num = this.num;
    let lo = n;
    const lastTs = n > 0 ? num[3 * (n - 1)]! : 0;
    if (n > 0 && !(lastTs < ts || (lastTs === ts && num[3 * (n - 1) + 1]! < tie))) {
      lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const t = num[3 * mid]!;
        if (t < ts || (t === ts && num[3 * mid + 1]! < tie)) lo = mid + 1;
        else hi = mid;
      }
      for (let k = lo; k < n && num[3 * k] === ts && num[3 * k + 1] === tie; k++) {
        if (this.name[k] === name) return false;
      }
    }
    let o = -1;
    if (values !== null && values.length > 0) {
      o = this.v;
      this.putValues(values);
    }
    if (n === this.name.length) this.grow(roomFor(n));
    const names = this.name;
    const cols = this.num;
    for (let k = n; k > lo; k--) {
      names[k] = names[k - 1]!;
      cols[3 * k] = cols[3 * k - 3]!;
      cols[3 * k + 1] = cols[3 * k - 2]!;
      cols[3 * k + 2] = cols[3 * k - 1]!;
    }
    names[lo] = name;
    cols[3 * lo] = ts;
    cols[3 * lo + 1] = tie;
    cols[3 * lo + 2] = o;
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
    for (let i = 0; i < values.length; i++) vals[this.v++] = values[i];
  }

  /** Makes room for `capacity` facts, keeping the first `length`. */
  private grow(capacity: number): void {
    const name = new Array<string>(capacity);
    const num = new Array<number>(3 * capacity);
    for (let k = 0; k < this.n; k++) name[k] = this.name[k]!;
    for (let i = 0; i < 3 * this.n; i++) num[i] = this.num[i]!;
    this.name = name;
    this.num = num;
  }

  /** Keeps only the facts `keep` says yes to (in place); the values kept are packed anew. */
  retain(keep: (name: string, ts: number) => boolean): void {
    const names = this.name;
    const num = this.num;
    let w = 0;
    let valuesDropped = false;
    for (let k = 0; k < this.n; k++) {
      if (!keep(names[k]!, num[3 * k]!)) {
        if (num[3 * k + 2]! >= 0) valuesDropped = true;
        continue;
      }
      if (w !== k) {
        names[w] = names[k]!;
        num[3 * w] = num[3 * k]!;
        num[3 * w + 1] = num[3 * k + 1]!;
        num[3 * w + 2] = num[3 * k + 2]!;
      }
      w++;
    }
    this.n = w;
    // Let go of room that is mostly empty now (pruning can drop most of a profile's facts).
    if (names.length > roomFor(roomFor(w))) this.grow(roomFor(w));
    if (!valuesDropped) return;
    const from = this.vals;
    let size = 0;
    for (let k = 0; k < w; k++) {
      const o = this.num[3 * k + 2]!;
      if (o >= 0) size += 1 + (from[o] as number);
    }
    const vals = new Array<unknown>(size);
    let at = 0;
    for (let k = 0; k < w; k++) {
      const o = this.num[3 * k + 2]!;
      if (o < 0) continue;
      this.num[3 * k + 2] = at;
      const count = from[o] as number;
      for (let i = 0; i <= count; i++) vals[at++] = from[o + i];
    }
    this.vals = vals;
    this.v = at;
  }
}
