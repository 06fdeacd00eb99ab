/**
 * A small array-backed binary min-heap ordered by a caller-supplied `before` relation.
 *
 * The simulator relies on its exact behaviour for reproducible output: sifting stops at the first
 * position where the moving item is not strictly `before` the item it is compared with, and of two
 * children the right one is taken only when it is strictly `before` the left one. Items that compare
 * equal are therefore never reordered, so ties must be broken by the relation itself (a sequence
 * number or an index) for the order to be total.
 */
export class BinaryHeap<T> {
  private readonly items: T[] = [];
  private readonly before: (a: T, b: T) => boolean;

  /**
   * @param before - Whether `a` must leave the heap before `b`; a strict order (false for equal items).
   */
  constructor(before: (a: T, b: T) => boolean) {
    this.before = before;
  }

  /** The number of items in the heap. */
  get size(): number {
    return this.items.length;
  }

  /** The first item (the one `pop()` would return), without removing it; undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Adds an item. */
  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as T;
      if (!this.before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  /** Removes and returns the first item; undefined when empty. */
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    this.siftDown(last);
    return top;
  }

  /**
   * Replaces the first item with `item` and restores the heap order (adds it when empty). Passing the
   * first item itself puts it back in its place after its key has changed.
   */
  replaceTop(item: T): void {
    if (this.items.length === 0) this.push(item);
    else this.siftDown(item);
  }

  /** Puts `item` in the root's place and moves it down to where it belongs. */
  private siftDown(item: T): void {
    const items = this.items;
    const n = items.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(items[r] as T, items[l] as T)) c = r;
      if (!this.before(items[c] as T, item)) break;
      items[i] = items[c] as T;
      i = c;
    }
    items[i] = item;
  }
}
