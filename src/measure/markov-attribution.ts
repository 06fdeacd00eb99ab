/**
 * Data-driven attribution with a Markov chain and the removal effect (Anderl, Becker, von
 * Wangenheim & Schumann 2016), with states of order k as in the ChannelAttribution package:
 *
 * - A state is a k-tuple of consecutive channels of a path (a path shorter than k is one state,
 *   the whole path). Path c1 > c2 > … > cL is the walk (start) → (c1…ck) → (c2…ck+1) → … →
 *   (cL−k+1…cL) → (conversion) or (null). A path taken by `conversions + nulls` customers adds
 *   that many transitions along the walk, then `conversions` into (conversion) and `nulls` into
 *   (null). Repeats of the same state in a row are one visit: a self-loop only delays
 *   absorption, it never changes where the walk ends.
 * - Transition probabilities are the transition counts out of each state, normalised.
 * - P = probability that the chain from (start) is absorbed in (conversion). Removing channel c
 *   turns every state containing c into (null); P₋c is the conversion probability then. The
 *   removal effect of c is RE(c) = 1 − P₋c / P.
 * - Conversions (and value) are shared among channels in proportion to their removal effects.
 *
 * ChannelAttribution estimates P₋c by simulating walks. Here the absorption probabilities are
 * solved exactly: by Gaussian elimination for up to 400 states, otherwise by Gauss–Seidel
 * sweeps until the largest change is below 1e-15 (the system is an M-matrix, so the sweeps
 * converge), so the result does not depend on a seed or a simulation budget.
 */

import type { PathTable } from './path-table.ts';

export interface MarkovOptions {
  /** Order k of the chain (states are k-tuples of channels); default 1. */
  readonly order?: number;
  /**
   * How to solve for the absorption probabilities: `auto` (default) eliminates up to 400 states
   * and iterates above that; the others force one method (for tests and comparisons).
   */
  readonly solver?: 'auto' | 'dense' | 'iterative';
}

export interface MarkovResult {
  readonly order: number;
  /** Channel id → removal effect RE(c) in [0, 1]. */
  readonly removalEffects: Float64Array;
  /** Channel id → share of the conversions (removal effects normalised to sum to 1). */
  readonly shares: Float64Array;
  /** Probability that a walk from (start) converts. */
  readonly conversionProbability: number;
  /** Transient states of the chain, (start) included. */
  readonly states: number;
}

const DENSE_LIMIT = 400;
const TOLERANCE = 1e-15;
const MAX_SWEEPS = 1_000_000;

/** A chain: transient states 0..n−1 (0 is start); edges to other transient states, in CSR form. */
interface Chain {
  readonly n: number;
  readonly rowStart: Int32Array;
  readonly target: Int32Array;
  readonly prob: Float64Array;
  /** Probability of moving straight to (conversion). */
  readonly toConversion: Float64Array;
  /** Channel ids each state contains, CSR form. */
  readonly memberStart: Int32Array;
  readonly members: Int32Array;
}

/** Interns k-tuples of channel ids as state ids. */
class StateIndex {
  private readonly numeric = new Map<number, number>();
  private readonly textual = new Map<string, number>();
  private readonly base: number;
  private readonly numericKeys: boolean;
  readonly memberLists: number[][] = [[]];

  constructor(channels: number, order: number) {
    this.base = channels + 1;
    this.numericKeys = order * Math.log2(this.base) < 52;
  }

  get size(): number {
    return this.memberLists.length;
  }

  /** The state of touches[from .. to). */
  id(touches: Int32Array, from: number, to: number): number {
    if (this.numericKeys) {
      let key = 0;
      for (let i = from; i < to; i++) key = key * this.base + touches[i]! + 1;
      let id = this.numeric.get(key);
      if (id === undefined) {
        id = this.add(touches, from, to);
        this.numeric.set(key, id);
      }
      return id;
    }
    let key = '';
    for (let i = from; i < to; i++) key += `${touches[i]},`;
    let id = this.textual.get(key);
    if (id === undefined) {
      id = this.add(touches, from, to);
      this.textual.set(key, id);
    }
    return id;
  }

  private add(touches: Int32Array, from: number, to: number): number {
    const members: number[] = [];
    for (let i = from; i < to; i++) if (!members.includes(touches[i]!)) members.push(touches[i]!);
    this.memberLists.push(members);
    return this.memberLists.length - 1;
  }
}

/** Counts the transitions of every path and turns them into a chain. */
function buildChain(paths: PathTable, order: number): Chain {
  const states = new StateIndex(paths.channels.length, order);
  // Transition weights out of each state: target → weight. Targets −1 and −2 are
  // (conversion) and (null).
  const out: Map<number, number>[] = [new Map()];
  const addEdge = (from: number, to: number, w: number) => {
    const m = out[from]!;
    m.set(to, (m.get(to) ?? 0) + w);
  };
  const { offsets, touches, conversions, nulls } = paths;
  for (let r = 0; r < paths.rows; r++) {
    const conv = conversions[r]!;
    const nul = nulls[r]!;
    const w = conv + nul;
    if (!(w > 0)) continue;
    const begin = offsets[r]!;
    const end = offsets[r + 1]!;
    const last = Math.max(begin, end - order);
    let prev = 0;
    for (let s = begin; s <= last; s++) {
      const id = states.id(touches, s, Math.min(end, s + order));
      if (id >= out.length) out.push(new Map());
      if (id !== prev) addEdge(prev, id, w);
      prev = id;
    }
    if (conv > 0) addEdge(prev, -1, conv);
    if (nul > 0) addEdge(prev, -2, nul);
  }

  const n = states.size;
  const rowStart = new Int32Array(n + 1);
  let edges = 0;
  for (let i = 0; i < n; i++) {
    rowStart[i] = edges;
    for (const to of out[i]!.keys()) if (to >= 0) edges++;
  }
  rowStart[n] = edges;
  const target = new Int32Array(edges);
  const prob = new Float64Array(edges);
  const toConversion = new Float64Array(n);
  let e = 0;
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (const w of out[i]!.values()) total += w;
    if (!(total > 0)) continue; // no way out: absorbed in (null)
    for (const [to, w] of out[i]!) {
      if (to === -1) toConversion[i] = w / total;
      else if (to >= 0) {
        target[e] = to;
        prob[e] = w / total;
        e++;
      }
    }
  }
  const memberStart = new Int32Array(n + 1);
  let m = 0;
  for (let i = 0; i < n; i++) {
    memberStart[i] = m;
    m += states.memberLists[i]!.length;
  }
  memberStart[n] = m;
  const members = new Int32Array(m);
  for (let i = 0, k = 0; i < n; i++) for (const c of states.memberLists[i]!) members[k++] = c;
  return { n, rowStart, target, prob, toConversion, memberStart, members };
}

/**
 * Probability of absorption in (conversion) from (start), with the states flagged in `removed`
 * turned into (null).
 */
function conversionProbability(chain: Chain, removed: Uint8Array, solver: MarkovOptions['solver']): number {
  const dense = solver === 'dense' || ((solver ?? 'auto') === 'auto' && chain.n <= DENSE_LIMIT);
  return dense ? solveDense(chain, removed) : solveIterative(chain, removed);
}

/** Gaussian elimination with partial pivoting on (I − Q) x = b. */
function solveDense(chain: Chain, removed: Uint8Array): number {
  const n = chain.n;
  const a = new Float64Array(n * n);
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a[i * n + i] = 1;
    if (removed[i]) continue;
    b[i] = chain.toConversion[i]!;
    for (let e = chain.rowStart[i]!; e < chain.rowStart[i + 1]!; e++) {
      const j = chain.target[e]!;
      if (!removed[j]) a[i * n + j]! -= chain.prob[e]!;
    }
  }
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++)
      if (Math.abs(a[r * n + col]!) > Math.abs(a[pivot * n + col]!)) pivot = r;
    if (pivot !== col) {
      for (let k = col; k < n; k++) {
        const t = a[col * n + k]!;
        a[col * n + k] = a[pivot * n + k]!;
        a[pivot * n + k] = t;
      }
      const t = b[col]!;
      b[col] = b[pivot]!;
      b[pivot] = t;
    }
    const d = a[col * n + col]!;
    for (let r = col + 1; r < n; r++) {
      const f = a[r * n + col]! / d;
      if (f === 0) continue;
      for (let k = col; k < n; k++) a[r * n + k]! -= f * a[col * n + k]!;
      b[r]! -= f * b[col]!;
    }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < n; k++) s -= a[r * n + k]! * x[k]!;
    x[r] = s / a[r * n + r]!;
  }
  return clamp01(x[0]!);
}

/** Gauss–Seidel sweeps, visiting states nearest to absorption first. */
function solveIterative(chain: Chain, removed: Uint8Array): number {
  const n = chain.n;
  const order = sweepOrder(chain);
  const x = new Float64Array(n);
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let change = 0;
    for (const i of order) {
      if (removed[i]) continue;
      let v = chain.toConversion[i]!;
      for (let e = chain.rowStart[i]!; e < chain.rowStart[i + 1]!; e++) {
        const j = chain.target[e]!;
        if (!removed[j]) v += chain.prob[e]! * x[j]!;
      }
      const d = Math.abs(v - x[i]!);
      if (d > change) change = d;
      x[i] = v;
    }
    if (change < TOLERANCE) break;
  }
  return clamp01(x[0]!);
}

const sweepOrders = new WeakMap<Chain, Int32Array>();

/** States by their distance (in steps) to absorption, nearest first, so values flow in one sweep. */
function sweepOrder(chain: Chain): Int32Array {
  const cached = sweepOrders.get(chain);
  if (cached) return cached;
  const n = chain.n;
  const incoming: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++)
    for (let e = chain.rowStart[i]!; e < chain.rowStart[i + 1]!; e++) incoming[chain.target[e]!]!.push(i);
  const seen = new Uint8Array(n);
  const queue: number[] = [];
  for (let i = 0; i < n; i++) {
    if (chain.toConversion[i]! > 0 || chain.rowStart[i + 1] === chain.rowStart[i]) {
      seen[i] = 1;
      queue.push(i);
    }
  }
  for (let q = 0; q < queue.length; q++)
    for (const p of incoming[queue[q]!]!) {
      if (!seen[p]) {
        seen[p] = 1;
        queue.push(p);
      }
    }
  for (let i = 0; i < n; i++) if (!seen[i]) queue.push(i);
  const result = Int32Array.from(queue);
  sweepOrders.set(chain, result);
  return result;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Removal effects and conversion shares of every channel of `paths`. */
export function markovAttribution(paths: PathTable, options: MarkovOptions = {}): MarkovResult {
  const order = options.order ?? 1;
  if (!Number.isInteger(order) || order < 1)
    throw new RangeError(`order must be a positive integer, got ${order}`);
  const channels = paths.channels.length;
  const chain = buildChain(paths, order);
  const removed = new Uint8Array(chain.n);
  const base = conversionProbability(chain, removed, options.solver);
  const removalEffects = new Float64Array(channels);
  const shares = new Float64Array(channels);
  if (base > 0) {
    // States containing each channel.
    const statesOf: number[][] = Array.from({ length: channels }, () => []);
    for (let s = 1; s < chain.n; s++)
      for (let k = chain.memberStart[s]!; k < chain.memberStart[s + 1]!; k++)
        statesOf[chain.members[k]!]!.push(s);
    for (let c = 0; c < channels; c++) {
      if (statesOf[c]!.length === 0) continue;
      removed.fill(0);
      for (const s of statesOf[c]!) removed[s] = 1;
      removalEffects[c] = clamp01(1 - conversionProbability(chain, removed, options.solver) / base);
    }
    let sum = 0;
    for (const re of removalEffects) sum += re;
    if (sum > 0) for (let c = 0; c < channels; c++) shares[c] = removalEffects[c]! / sum;
  }
  return { order, removalEffects, shares, conversionProbability: base, states: chain.n };
}
