/**
 * The engine's profiles by id: each id to the number of its record.
 *
 * Profile ids are UUIDs in their canonical form (lowercase, hyphens at 8, 13, 18 and 23). Such an
 * id is kept as four 32-bit words in a typed array, not as a string on the heap, and found through
 * an open-addressed table of typed arrays too. A `Map` keyed by id strings found a profile among a
 * million in about 1.2 µs: a lookup follows a chain of entries, each a read from memory that is
 * not in the cache, and compares the id with strings elsewhere on the heap. Here it is the read of
 * one slot and of the id's words, about half that with the parsing of the id included. A million
 * id strings and the map's entries are also that much less for each full collection to mark.
 *
 * Any other id (tests and hand-made stores use names such as `p1`) is kept as it is, in a `Map`.
 */

const EMPTY = 0;
const DASH = 45;

/** Hex digit values by character code; −1 for anything else (uppercase included: not canonical). */
const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[97 + c] = 10 + c;
const DIGITS = Buffer.from('0123456789abcdef', 'latin1');

export class IdTable {
  /** Per slot: the id's hash, and its record + 1 (0: an empty slot). */
  private slots = new Int32Array(2 * 1024);
  private mask = 1023;
  private used = 0;
  /** Per record: its id's four words, when the id is a UUID. */
  private words = new Int32Array(4 * 1024);
  /** Ids that are not UUIDs, to their record; and by record, their id. */
  private readonly others = new Map<string, number>();
  private readonly otherIds: (string | undefined)[] = [];
  /** The words of the id last parsed. */
  private readonly w = new Int32Array(4);
  /** Where `idOf` writes an id out (its hyphens stay). */
  private readonly text = Buffer.alloc(36, '-');

  /** How many ids are held. */
  get size(): number {
    return this.used + this.others.size;
  }

  /** The record of `id`, or −1. */
  find(id: string): number {
    if (!this.parse(id)) return this.others.get(id) ?? -1;
    const w = this.w;
    const h = hashOf(w[0]!, w[1]!, w[2]!, w[3]!);
    const slots = this.slots;
    const words = this.words;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const r1 = slots[2 * i + 1]!;
      if (r1 === EMPTY) return -1;
      if (slots[2 * i] !== h) continue;
      const k = 4 * (r1 - 1);
      if (words[k] === w[0] && words[k + 1] === w[1] && words[k + 2] === w[2] && words[k + 3] === w[3])
        return r1 - 1;
    }
  }

  /** Adds `id` (not held yet) as record `r`'s. */
  add(id: string, r: number): void {
    if (!this.parse(id)) {
      this.others.set(id, r);
      this.otherIds[r] = id;
      return;
    }
    if (4 * r + 4 > this.words.length) {
      const words = new Int32Array(Math.max(2 * this.words.length, 4 * r + 4));
      words.set(this.words);
      this.words = words;
    }
    this.words.set(this.w, 4 * r);
    this.otherIds[r] = undefined;
    if (2 * (this.used + 1) > this.mask + 1) this.grow();
    this.place(hashOf(this.w[0]!, this.w[1]!, this.w[2]!, this.w[3]!), r);
    this.used++;
  }

  /** Lets go of record `r`'s id. */
  remove(r: number): void {
    const other = this.otherIds[r];
    if (other !== undefined) {
      this.others.delete(other);
      this.otherIds[r] = undefined;
      return;
    }
    const slots = this.slots;
    const mask = this.mask;
    let i = this.homeOf(r);
    while (slots[2 * i + 1] !== r + 1) {
      if (slots[2 * i + 1] === EMPTY) return;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: each later entry of the run moves into the gap unless its home
    // lies cyclically after the gap, so that no search stops early at an empty slot.
    for (let j = i; ; ) {
      j = (j + 1) & mask;
      if (slots[2 * j + 1] === EMPTY) break;
      const home = slots[2 * j]! & mask;
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue;
      slots[2 * i] = slots[2 * j]!;
      slots[2 * i + 1] = slots[2 * j + 1]!;
      i = j;
    }
    slots[2 * i] = 0;
    slots[2 * i + 1] = EMPTY;
    this.used--;
  }

  /** Record `r`'s id: one flat string, written out as bytes (about ten times faster than by parts). */
  idOf(r: number): string {
    // Read only where there are other ids: the entry of each record is elsewhere in memory.
    const other = this.others.size === 0 ? undefined : this.otherIds[r];
    if (other !== undefined) return other;
    const out = this.text;
    let at = 0;
    for (let k = 0; k < 4; k++) {
      const word = this.words[4 * r + k]!;
      for (let shift = 28; shift >= 0; shift -= 4) {
        if (at === 8 || at === 13 || at === 18 || at === 23) at++;
        out[at++] = DIGITS[(word >>> shift) & 15]!;
      }
    }
    return out.toString('latin1', 0, 36);
  }

  /** Orders two records by their ids, as strings compare (sorting a million reads no other ids' entries). */
  compare(a: number, b: number): number {
    if (this.others.size === 0 || (this.otherIds[a] === undefined && this.otherIds[b] === undefined)) {
      const words = this.words;
      for (let k = 0; k < 4; k++) {
        const x = words[4 * a + k]! >>> 0;
        const y = words[4 * b + k]! >>> 0;
        if (x !== y) return x < y ? -1 : 1;
      }
      return 0;
    }
    const x = this.idOf(a);
    const y = this.idOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  /** Orders record `r`'s id against `id`, as strings compare. */
  compareTo(r: number, id: string): number {
    if ((this.others.size === 0 || this.otherIds[r] === undefined) && this.parse(id)) {
      for (let k = 0; k < 4; k++) {
        const x = this.words[4 * r + k]! >>> 0;
        const y = this.w[k]! >>> 0;
        if (x !== y) return x < y ? -1 : 1;
      }
      return 0;
    }
    const x = this.idOf(r);
    return x < id ? -1 : x > id ? 1 : 0;
  }

  /** Reads a canonical UUID into `w`; false for anything else. */
  private parse(id: string): boolean {
    if (id.length !== 36) return false;
    const w = this.w;
    let k = 0;
    let word = 0;
    for (let i = 0; i < 36; i++) {
      const c = id.charCodeAt(i);
      if (i === 8 || i === 13 || i === 18 || i === 23) {
        if (c !== DASH) return false;
        continue;
      }
      const v = c < 128 ? HEX[c]! : -1;
      if (v < 0) return false;
      word = (word << 4) | v;
      if (i === 7 || i === 17 || i === 27 || i === 35) {
        w[k++] = word;
        word = 0;
      }
    }
    return true;
  }

  private homeOf(r: number): number {
    const k = 4 * r;
    const words = this.words;
    return hashOf(words[k]!, words[k + 1]!, words[k + 2]!, words[k + 3]!) & this.mask;
  }

  private place(h: number, r: number): void {
    let i = h & this.mask;
    while (this.slots[2 * i + 1] !== EMPTY) i = (i + 1) & this.mask;
    this.slots[2 * i] = h;
    this.slots[2 * i + 1] = r + 1;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(2 * old.length);
    this.mask = old.length - 1;
    for (let i = 0; i < old.length; i += 2) if (old[i + 1] !== EMPTY) this.place(old[i]!, old[i + 1]! - 1);
  }
}

/** Mixes a UUID's words: its first ones are a time, its last ones random. */
function hashOf(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ d, 0x9e3779b1) ^ Math.imul(b ^ c, 0x85ebca77);
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d) ^ (h >>> 13);
}
