/**
 * A map that forgets what has not been used for a while, at no cost per hit: entries live in two
 * generations. New entries go into the young one; when it holds `generation` entries it becomes
 * the old one and the previous old one is dropped. An entry found in the old generation moves to
 * the young one, so whatever was used within the last `generation` insertions stays. It holds at
 * most twice `generation` entries, and clearing a full cache never leaves it cold.
 */
export class BoundedCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();

  constructor(private readonly generation: number) {}

  get(key: K): V | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const aged = this.old.get(key);
    // Setting it again moves it to the young generation (and out of the old one).
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }

  set(key: K, value: V): void {
    if (this.young.size >= this.generation && !this.young.has(key)) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
    // An older value of the key must not come back when this one ages out.
    if (this.old.size > 0) this.old.delete(key);
  }

  delete(key: K): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}
