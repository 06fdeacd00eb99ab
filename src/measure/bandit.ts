/**
 * Thompson sampling for variants: each time a profile is to be assigned, draw a conversion rate
 * for every variant from its Beta(1 + successes, 1 + failures) posterior and give the profile the
 * variant with the highest draw. Traffic moves toward the winner as evidence builds, while the
 * control arm keeps a fixed share, so the experiment report's lift over control stays unbiased.
 * Pure: randomness comes from the caller's source (use {@link seededRandom} in tests).
 */

/** A source of uniform numbers in [0, 1). */
export type RandomSource = () => number;

export interface BanditArm {
  readonly id: string;
  /** Converted profiles of the arm. */
  readonly successes: number;
  /** Profiles of the arm that did not convert. */
  readonly failures: number;
}

export interface ThompsonOptions {
  /** The control arm: it gets `controlShare` of the traffic whatever the evidence. */
  readonly control?: string;
  /** The control's fixed share of traffic, in [0, 1); default 0 (no control). */
  readonly controlShare?: number;
}

/** Thrown for an empty arm list, bad counts or a control that is not an arm. */
export class BanditError extends Error {
  override name = 'BanditError';
}

/** mulberry32: a small, fast seeded generator. */
export function seededRandom(seed: number): RandomSource {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function standardNormal(random: RandomSource): number {
  // Box–Muller; 1 − u keeps the logarithm finite.
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape < 1 by the boost u^(1/shape)). */
export function sampleGamma(shape: number, random: RandomSource): number {
  if (!(shape > 0)) throw new BanditError(`gamma shape must be positive, got ${shape}`);
  if (shape < 1) return sampleGamma(shape + 1, random) * (1 - random()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(a, b) draw, as X / (X + Y) of two Gamma draws. */
export function sampleBeta(a: number, b: number, random: RandomSource): number {
  const x = sampleGamma(a, random);
  const y = sampleGamma(b, random);
  return x / (x + y);
}

function check(arms: readonly BanditArm[], options: ThompsonOptions): void {
  if (arms.length === 0) throw new BanditError('there are no arms to choose from');
  const ids = new Set<string>();
  for (const a of arms) {
    if (ids.has(a.id)) throw new BanditError(`arm '${a.id}' is listed twice`);
    ids.add(a.id);
    for (const [k, v] of [
      ['successes', a.successes],
      ['failures', a.failures],
    ] as const)
      if (!(v >= 0) || !Number.isFinite(v))
        throw new BanditError(`${k} of arm '${a.id}' must be a non-negative number, got ${v}`);
  }
  const share = options.controlShare ?? 0;
  if (!(share >= 0 && share < 1)) throw new BanditError(`controlShare must be in [0, 1), got ${share}`);
  if (options.control !== undefined && !ids.has(options.control))
    throw new BanditError(`the control '${options.control}' is not one of the arms`);
  if (share > 0 && options.control === undefined) throw new BanditError('controlShare needs a control arm');
}

/**
 * Chooses the arm for the next profile: the control with probability `controlShare`, otherwise
 * the variant (any arm but the control) with the highest posterior draw. With only a control arm,
 * the control.
 */
export function chooseArm(
  arms: readonly BanditArm[],
  random: RandomSource,
  options: ThompsonOptions = {},
): string {
  check(arms, options);
  const share = options.controlShare ?? 0;
  if (share > 0 && random() < share) return options.control!;
  let best: string | null = null;
  let bestDraw = Number.NEGATIVE_INFINITY;
  for (const a of arms) {
    if (a.id === options.control) continue;
    const draw = sampleBeta(1 + a.successes, 1 + a.failures, random);
    if (draw > bestDraw) {
      bestDraw = draw;
      best = a.id;
    }
  }
  return best ?? options.control!;
}

/**
 * The probability that each variant has the highest conversion rate, estimated from `draws`
 * posterior draws: the share of traffic Thompson sampling gives it (before the control's share).
 */
export function probabilityBest(
  arms: readonly BanditArm[],
  random: RandomSource,
  options: ThompsonOptions & { readonly draws?: number } = {},
): Record<string, number> {
  check(arms, options);
  const draws = options.draws ?? 10_000;
  if (!Number.isInteger(draws) || draws < 1)
    throw new BanditError(`draws must be a whole number ≥ 1, got ${draws}`);
  const variants = arms.filter((a) => a.id !== options.control);
  const wins = new Map<string, number>(variants.map((a) => [a.id, 0]));
  for (let i = 0; i < draws && variants.length > 0; i++) {
    let best = variants[0]!.id;
    let bestDraw = Number.NEGATIVE_INFINITY;
    for (const a of variants) {
      const draw = sampleBeta(1 + a.successes, 1 + a.failures, random);
      if (draw > bestDraw) {
        bestDraw = draw;
        best = a.id;
      }
    }
    wins.set(best, wins.get(best)! + 1);
  }
  return Object.fromEntries([...wins].map(([id, w]) => [id, w / draws]));
}
