/**
 * What the evaluator keeps of one profile's events, in columns sorted by (time, tie-breaker): the
 * event name, the time, a tie-breaker (a hash of the message id, so events at the same millisecond
 * order the same way whatever order they arrived in) and, for names whose properties a definition
 * reads, the projected values. One set of arrays per profile, numbers unboxed: a fact costs a few
 * dozen bytes, not an object and a list per event name.
 */
export class ProfileFacts {
  readonly name: string[] = [];
  readonly ts: number[] = [];
  readonly tie: number[] = [];
  readonly values: (readonly unknown[] | null)[] = [];

  get length(): number {
    return this.ts.length;
  }

  /** The projected value at `index` of fact `k`. */
  value(k: number, index: number): unknown {
    return this.values[k]?.[index] ?? null;
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
    if (lo === n) {
      this.name.push(name);
      this.ts.push(ts);
      this.tie.push(tie);
      this.values.push(values);
    } else {
      this.name.splice(lo, 0, name);
      this.ts.splice(lo, 0, ts);
      this.tie.splice(lo, 0, tie);
      this.values.splice(lo, 0, values);
    }
    return true;
  }

  /** Keeps only the facts `keep` says yes to (in place). */
  retain(keep: (name: string, ts: number) => boolean): void {
    let w = 0;
    for (let k = 0; k < this.ts.length; k++) {
      if (!keep(this.name[k]!, this.ts[k]!)) continue;
      if (w !== k) {
        this.name[w] = this.name[k]!;
        this.ts[w] = this.ts[k]!;
        this.tie[w] = this.tie[k]!;
        this.values[w] = this.values[k]!;
      }
      w++;
    }
    this.name.length = w;
    this.ts.length = w;
    this.tie.length = w;
    this.values.length = w;
  }
}
