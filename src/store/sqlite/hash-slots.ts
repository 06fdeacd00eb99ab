/**
 * A table from 53-bit hashes to positions in an array the caller keeps, in two typed arrays with
 * open addressing. A look-up compares numbers in one flat array and never follows a pointer, where
 * a `Map` keyed by strings reaches each candidate key's characters somewhere in the heap: on the
 * writer's hot path, with a large heap, that was most of what a look-up cost. It holds no keys, so
 * the caller verifies each position it gets back (two strings can share a hash). Entries are never
 * removed one by one; the caller drops the whole table.
 */
export class HashSlots {
  private hashes: Float64Array;
  /** Position + 1 per slot; 0 marks an empty slot. */
  private positions: Int32Array;
  private mask: number;
  private count = 0;

  constructor(capacity = 1024) {
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.hashes = new Float64Array(slots);
    this.positions = new Int32Array(slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  add(hash: number, position: number): void {
    if ((this.count + 1) * 2 > this.positions.length) this.grow();
    this.place(hash, position + 1);
    this.count++;
  }

  /**
   * The next slot after `after` (or the first, with -1) that holds `hash`, or -1 when there is
   * none: `for (let s = t.find(h); s !== -1; s = t.find(h, s))` visits every position stored
   * under `hash`.
   */
  find(hash: number, after = -1): number {
    const hashes = this.hashes;
    const positions = this.positions;
    const mask = this.mask;
    let i = after === -1 ? (hash >>> 0) & mask : (after + 1) & mask;
    while (positions[i] !== 0) {
      if (hashes[i] === hash) return i;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** The position stored in a slot `find` returned. */
  positionAt(slot: number): number {
    return this.positions[slot]! - 1;
  }

  private place(hash: number, stored: number): void {
    const hashes = this.hashes;
    const positions = this.positions;
    const mask = this.mask;
    // The low 32 bits of a cyrb53 hash are well mixed; linear probing from there.
    let i = (hash >>> 0) & mask;
    while (positions[i] !== 0) i = (i + 1) & mask;
    hashes[i] = hash;
    positions[i] = stored;
  }

  private grow(): void {
    const hashes = this.hashes;
    const positions = this.positions;
    this.hashes = new Float64Array(hashes.length * 2);
    this.positions = new Int32Array(positions.length * 2);
    this.mask = positions.length * 2 - 1;
    for (let i = 0; i < positions.length; i++) {
      if (positions[i] !== 0) this.place(hashes[i]!, positions[i]!);
    }
  }
}
