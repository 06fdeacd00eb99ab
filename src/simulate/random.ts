/**
 * A small, fast, seeded pseudo-random number generator (sfc32) with the draws the customer simulator
 * needs. Every value the simulator produces comes from one of these, so the same seed always yields
 * the same output, on every run and every machine.
 */

const TWO_POW_32 = 4294967296;

/** Mixes a 32-bit value (the finaliser of MurmurHash3): good avalanche, cheap. */
export function mix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Combines several numbers (any safe integers) into one well-mixed 32-bit seed. */
export function hashSeed(...parts: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    const lo = part >>> 0;
    const hi = Math.floor(part / TWO_POW_32) >>> 0;
    h = mix32(h ^ mix32(lo + 0x7f4a7c15));
    h = mix32(h ^ mix32(hi + 0x2545f491));
  }
  return h;
}

/** FNV-1a hash of a string, mixed, as an unsigned 32-bit integer. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

const HEX_CODES: readonly number[] = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const DASH = 45;
/** Scratch buffer of character codes: strings built from it in one go are flat (not rope) strings. */
const CODES: number[] = [];

/** Appends the low `digits` hex digits of `value`. */
function pushHex(value: number, digits: number, upper: boolean): void {
  for (let shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    const code = HEX_CODES[(value >>> shift) & 0xf] as number;
    CODES.push(upper && code > 96 ? code - 32 : code);
  }
}

function takeCodes(): string {
  const text = String.fromCharCode(...CODES);
  CODES.length = 0;
  return text;
}

/** Seeded generator: sfc32 (Small Fast Counting, 128-bit state), seeded through splitmix32. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A derived, independent generator for a sub-stream (e.g. one per customer). */
  fork(...labels: readonly number[]): Rng {
    return new Rng(hashSeed(this.u32(), ...labels));
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    const a = this.a;
    const b = this.b;
    const c = this.c;
    const d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    this.c = ((c << 21) | (c >>> 11)) + t;
    this.c |= 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.u32() / TWO_POW_32;
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Uniform float in [min, max). */
  float(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element, uniformly. Throws on an empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** One element with probability proportional to its weight. Throws if no weight is positive. */
  weighted<T>(items: readonly T[], weights: readonly number[] | ((item: T) => number)): T {
    const weightOf = typeof weights === 'function' ? weights : (_: T, i: number) => weights[i] ?? 0;
    let total = 0;
    for (let i = 0; i < items.length; i++) total += Math.max(0, weightOf(items[i] as T, i));
    if (!(total > 0)) throw new RangeError('weighted() needs at least one positive weight');
    let r = this.next() * total;
    for (let i = 0; i < items.length; i++) {
      r -= Math.max(0, weightOf(items[i] as T, i));
      if (r < 0) return items[i] as T;
    }
    return items[items.length - 1] as T;
  }

  /** Up to `count` distinct elements, in random order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const copy = items.slice();
    const n = Math.min(count, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.next() * (copy.length - i));
      const tmp = copy[i] as T;
      copy[i] = copy[j] as T;
      copy[j] = tmp;
    }
    return copy.slice(0, n);
  }

  /** Exponential draw with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** Normal draw (Box–Muller). */
  normal(mean = 0, sd = 1): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal draw: exp(N(mu, sigma)). */
  lognormal(mu: number, sigma: number): number {
    return Math.exp(this.normal(mu, sigma));
  }

  /** Log-normal draw parameterised by its median and a multiplicative spread (sigma of the log). */
  around(median: number, sigma: number): number {
    return median * Math.exp(this.normal(0, sigma));
  }

  /** Poisson draw (Knuth's method for small means, normal approximation for large ones). */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 40) return Math.max(0, Math.round(this.normal(mean, Math.sqrt(mean))));
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }

  /** `length` hex digits (lowercase unless `upper`). */
  hex(length: number, upper = false): string {
    while (CODES.length < length) pushHex(this.u32(), 8, upper);
    CODES.length = length;
    return takeCodes();
  }

  /** A random (version 4, RFC 9562 variant) UUID drawn from this generator, so it is reproducible. */
  uuid(upper = false): string {
    const a = this.u32();
    const b = (this.u32() & 0xffff0fff) | 0x00004000;
    const c = ((this.u32() & 0x3fffffff) | 0x80000000) >>> 0;
    const d = this.u32();
    // 8-4-4-4-12
    pushHex(a, 8, upper);
    CODES.push(DASH);
    pushHex(b >>> 16, 4, upper);
    CODES.push(DASH);
    pushHex(b, 4, upper);
    CODES.push(DASH);
    pushHex(c >>> 16, 4, upper);
    CODES.push(DASH);
    pushHex(c, 4, upper);
    pushHex(d, 8, upper);
    return takeCodes();
  }
}

/** Pre-computed cumulative weights for fast repeated weighted picks from the same list. */
export class WeightedTable<T> {
  private readonly cumulative: Float64Array;
  private readonly total: number;

  constructor(
    private readonly items: readonly T[],
    weights: readonly number[] | ((item: T) => number),
  ) {
    if (items.length === 0) throw new RangeError('WeightedTable needs at least one item');
    this.cumulative = new Float64Array(items.length);
    let total = 0;
    for (let i = 0; i < items.length; i++) {
      const w = typeof weights === 'function' ? weights(items[i] as T) : (weights[i] ?? 0);
      total += Math.max(0, w);
      this.cumulative[i] = total;
    }
    if (!(total > 0)) throw new RangeError('WeightedTable needs at least one positive weight');
    this.total = total;
  }

  pick(rng: Rng): T {
    const r = rng.next() * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cumulative[mid] as number) > r) hi = mid;
      else lo = mid + 1;
    }
    return this.items[lo] as T;
  }
}
