/**
 * What the evaluator keeps of one profile's events, in columns sorted by (time, tie-breaker): the
 * event name, the time, a tie-breaker (a hash of the message id, so events at the same millisecond
 * order the same way whatever order they arrived in) and, for names whose properties a definition
 * reads, the projected values. One set of arrays per profile, numbers unboxed: a fact costs a few
 * dozen bytes, not an object and a list per event name.
 *
 * The projected values of all facts share one array, `vals`: a fact's entry in `off` is where its
 * values start, after their count (−1 when it has none). Evaluating reads the values of fact after
 * fact; held in one array they sit side by side in memory, where an array per fact would put each
 * somewhere else on the heap (and give the collector an object per fact to trace and move). The
 * values of a fact inserted out of time order go at the end of `vals`: only `off` keeps the order.
 */
export class ProfileFacts {
  readonly name: string[] = [];
  readonly ts: number[] = [];
  readonly tie: number[] = [];
  readonly off: number[] = [];
  private vals: unknown[] = [];

  get length(): number {
    return this.ts.length;
  }

  /** The projected value at `index` of fact `k` (null when it has none there). */
  value(k: number, index: number): unknown {
    const o = this.off[k]!;
    if (o < 0 || index >= (this.vals[o] as number)) return null;
    return this.vals[o + 1 + index] ?? null;
  }

  /** The projected values of fact `k`, as a new array (empty when it has none). */
  valuesOf(k: number): unknown[] {
    const o = this.off[k]!;
    return o < 0 ? [] : this.vals.slice(o + 1, o + 1 + (this.vals[o] as number));
  }

  /** Inserts in (ts, tie) order; false when the same fact is already there. */
  insert(name: string, ts: number, tie: number, values: readonly unknown[] | null): boolean {
    const n = this.ts.length;
    let lo = n;
    if (n > 0 && !(this.ts[n - 1]! < ts || (this.ts[n - 1] === ts && this.tie[n - 1]! < tie))) {
      lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.ts[mid]! < ts || (this.ts[mid] === ts && this.tie[mid]! < tie)) lo = mid + 1;
        else hi = mid;
      }
      for (let k = lo; k < n && this.ts[k] === ts && this.tie[k] === tie; k++) {
        if (this.name[k] === name) return false;
      }
    }
    let o = -1;
    if (values !== null && values.length > 0) {
      const vals = this.vals;
      o = vals.length;
      vals.push(values.length);
      for (let i = 0; i < values.length; i++) vals.push(values[i]);
    }
    if (lo === n) {
      this.name.push(name);
      this.ts.push(ts);
      this.tie.push(tie);
      this.off.push(o);
    } else {
      this.name.splice(lo, 0, name);
      this.ts.splice(lo, 0, ts);
      this.tie.splice(lo, 0, tie);
      this.off.splice(lo, 0, o);
    }
    return true;
  }

  /** Keeps only the facts `keep` says yes to (in place); the values kept are packed anew. */
  retain(keep: (name: string, ts: number) => boolean): void {
    let w = 0;
    let valuesDropped = false;
    for (let k = 0; k < this.ts.length; k++) {
      if (!keep(this.name[k]!, this.ts[k]!)) {
        if (this.off[k]! >= 0) valuesDropped = true;
        continue;
      }
      if (w !== k) {
        this.name[w] = this.name[k]!;
        this.ts[w] = this.ts[k]!;
        this.tie[w] = this.tie[k]!;
        this.off[w] = this.off[k]!;
      }
      w++;
    }
    this.name.length = w;
    this.ts.length = w;
    this.tie.length = w;
    this.off.length = w;
    if (!valuesDropped) return;
    const from = this.vals;
    const vals: unknown[] = [];
    for (let k = 0; k < w; k++) {
      const o = this.off[k]!;
      if (o < 0) continue;
      this.off[k] = vals.length;
      const count = from[o] as number;
      for (let i = 0; i <= count; i++) vals.push(from[o + i]);
    }
    this.vals = vals;
  }
}
