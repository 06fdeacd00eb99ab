/**
 * The engine's pending timers: a binary min-heap of (time, record) pairs in two typed arrays. A
 * million profiles keep about a million timers; as `{ at, state }` objects each was two objects on
 * the heap (the time is a boxed number), which every full collection marks. Sifts as `BinaryHeap`
 * does (stops where the moving entry is not strictly earlier; of two children the right one only
 * when strictly earlier), so timers due at the same moment leave in the same order.
 */
export class TimerHeap {
  private at = new Float64Array(1024);
  private who = new Int32Array(1024);
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** When the first timer is due (+∞ when there is none). */
  peekAt(): number {
    return this.n === 0 ? Number.POSITIVE_INFINITY : this.at[0]!;
  }

  /** Whose the first timer is (a record number); only when there is one. */
  peekWho(): number {
    return this.who[0]!;
  }

  push(at: number, who: number): void {
    if (this.n === this.at.length) this.grow();
    let i = this.n++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!(at < this.at[parent]!)) break;
      this.at[i] = this.at[parent]!;
      this.who[i] = this.who[parent]!;
      i = parent;
    }
    this.at[i] = at;
    this.who[i] = who;
  }

  /** Removes the first timer. */
  pop(): void {
    if (this.n === 0) return;
    const n = --this.n;
    if (n === 0) return;
    const at = this.at[n]!;
    const who = this.who[n]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.at[r]! < this.at[l]!) c = r;
      if (!(this.at[c]! < at)) break;
      this.at[i] = this.at[c]!;
      this.who[i] = this.who[c]!;
      i = c;
    }
    this.at[i] = at;
    this.who[i] = who;
  }

  private grow(): void {
    const at = new Float64Array(2 * this.at.length);
    const who = new Int32Array(2 * this.who.length);
    at.set(this.at);
    who.set(this.who);
    this.at = at;
    this.who = who;
  }
}
