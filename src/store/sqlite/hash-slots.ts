/**
 * A table from 53-bit hashes to positions in an array the caller keeps, with open addressing in
 * one typed array (each slot's hash beside its position, so a probe reads one cache line). A
 * look-up compares numbers and never follows a pointer, where a `Map` keyed by strings reaches
 * each candidate key's characters somewhere in the heap: on the writer's hot path, with a large
 * heap, that was most of what a look-up cost. It holds no keys, so the caller verifies each
 * position it gets back (two strings can share a hash). Entries are never removed one by one; the
 * caller drops the whole table.
 */
export class HashSlots {
  /** Per slot: the hash, then position + 1 (0 marks an empty slot). */
  private slots: Float64Array;
  private mask: number;
  private count = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.slots = new Float64Array(n * 2);
    this.mask = n - 1;
  }

  get size(): number {
    return this.count;
  }

  add(hash: number, position: number): void {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    this.place(hash, position + 1);
    this.count++;
  }

  /**
   * The next slot after `after` (or the first, with -1) that holds `hash`, or -1 when there is
   * none: `for (let s = t.find(h); s !== -1; s = t.find(h, s))` visits every position stored
   * under `hash`.
   */
  find(hash: number, after = -1): number {
    const slots = this.slots;
    const mask = this.mask;
    // The low 32 bits of a cyrb53 hash are well mixed; linear probing from there.
    let i = after === -1 ? (hash >>> 0) & mask : (after + 1) & mask;
    while (slots[2 * i + 1] !== 0) {
      if (slots[2 * i] === hash) return i;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** The position stored in a slot `find` returned. */
  positionAt(slot: number): number {
    return this.slots[2 * slot + 1]! - 1;
  }

  private place(hash: number, stored: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = (hash >>> 0) & mask;
    while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
    slots[2 * i] = hash;
    slots[2 * i + 1] = stored;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    this.mask = old.length - 1;
    for (let i = 0; i < old.length; i += 2) if (old[i + 1] !== 0) this.place(old[i]!, old[i + 1]!);
  }
}
