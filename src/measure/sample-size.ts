/**
 * The sample-size / minimum-detectable-effect calculator of the admin API: given the baseline
 * conversion rate and either the effect to detect or the profiles per arm, the other one, for a
 * two-sided two-proportion test (see `sampleSizePerArm` in stats.ts for the formula).
 */

import type { Checked, DefinitionError } from '../segments/definition.ts';
import { minimumDetectableEffect, powerOfTwoProportions, sampleSizePerArm } from './stats.ts';

export interface SampleSizeRequest {
  readonly baseline: number;
  /** Exactly one of the three below. */
  readonly mde: number | null;
  readonly relativeMde: number | null;
  readonly sampleSizePerArm: number | null;
  readonly alpha: number;
  readonly power: number;
  /** Arms of the experiment, control included (for the total); default 2. */
  readonly arms: number;
}

export interface SampleSizeAnswer {
  readonly baseline: number;
  readonly alpha: number;
  readonly power: number;
  readonly arms: number;
  /** Absolute change of the conversion rate (p2 − p1); `null` when no such change is detectable. */
  readonly minimumDetectableEffect: number | null;
  /** minimumDetectableEffect / baseline. */
  readonly relativeMinimumDetectableEffect: number | null;
  readonly sampleSizePerArm: number | null;
  readonly totalSampleSize: number | null;
  /** The power actually reached with the (rounded-up) sample size. */
  readonly achievedPower: number | null;
}

const FIELDS = ['baseline', 'mde', 'relativeMde', 'sampleSizePerArm', 'alpha', 'power', 'arms'] as const;

/**
 * Checks the calculator's input. Query strings give every field as text; JSON bodies give
 * numbers (text is accepted too, so one checker serves both).
 */
export function checkSampleSize(input: unknown): Checked<SampleSizeRequest> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return {
      ok: false,
      errors: [{ path: '', message: 'must be an object like {"baseline": 0.05, "mde": 0.01}' }],
    };
  const o = input as Record<string, unknown>;
  const errors: DefinitionError[] = [];
  for (const k of Object.keys(o))
    if (!(FIELDS as readonly string[]).includes(k))
      errors.push({ path: k, message: `is not an allowed field (allowed: ${FIELDS.join(', ')})` });
  const num = (k: (typeof FIELDS)[number], ok: (x: number) => boolean, hint: string): number | null => {
    const v = o[k];
    if (v === undefined || v === null || v === '') return null;
    const x =
      typeof v === 'number'
        ? v
        : typeof v === 'string' && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v.trim())
          ? Number(v)
          : Number.NaN;
    if (!Number.isFinite(x) || !ok(x)) {
      errors.push({ path: k, message: `must be ${hint}, not ${JSON.stringify(v)}` });
      return null;
    }
    return x;
  };
  const baseline = num('baseline', (x) => x > 0 && x < 1, 'a conversion rate strictly between 0 and 1');
  if (o.baseline === undefined || o.baseline === null || o.baseline === '')
    errors.push({ path: 'baseline', message: 'is required: the control conversion rate, e.g. 0.05' });
  const mde = num('mde', (x) => x !== 0 && x > -1 && x < 1, 'a non-zero change of the rate between −1 and 1');
  const relativeMde = num('relativeMde', (x) => x !== 0 && x > -1, 'a non-zero relative change above −1');
  const n = num('sampleSizePerArm', (x) => Number.isInteger(x) && x >= 2, 'a whole number of at least 2');
  const alpha = num('alpha', (x) => x > 0 && x < 1, 'strictly between 0 and 1') ?? 0.05;
  const power = num('power', (x) => x > 0 && x < 1, 'strictly between 0 and 1') ?? 0.8;
  const arms =
    num('arms', (x) => Number.isInteger(x) && x >= 2 && x <= 100, 'a whole number from 2 to 100') ?? 2;
  const given = [mde, relativeMde, n].filter((x) => x !== null).length;
  const asked = ['mde', 'relativeMde', 'sampleSizePerArm'].filter(
    (k) => o[k] !== undefined && o[k] !== '',
  ).length;
  if (asked !== 1)
    errors.push({
      path: 'mde',
      message: 'give exactly one of mde (absolute change to detect), relativeMde or sampleSizePerArm',
    });
  if (errors.length > 0 || baseline === null || given !== 1) return { ok: false, errors };
  const p2 = mde !== null ? baseline + mde : relativeMde !== null ? baseline * (1 + relativeMde) : null;
  if (p2 !== null && !(p2 > 0 && p2 < 1))
    return {
      ok: false,
      errors: [
        {
          path: mde !== null ? 'mde' : 'relativeMde',
          message: `the changed rate ${p2} must stay strictly between 0 and 1`,
        },
      ],
    };
  return { ok: true, value: { baseline, mde, relativeMde, sampleSizePerArm: n, alpha, power, arms } };
}

/** The calculator's answer. */
export function sampleSize(req: SampleSizeRequest): SampleSizeAnswer {
  const opts = { alpha: req.alpha, power: req.power };
  let effect: number | null;
  let n: number | null;
  if (req.sampleSizePerArm !== null) {
    n = req.sampleSizePerArm;
    effect = minimumDetectableEffect(req.baseline, n, opts);
  } else {
    effect = req.mde ?? req.baseline * req.relativeMde!;
    n = sampleSizePerArm(req.baseline, effect, opts);
  }
  return {
    baseline: req.baseline,
    alpha: req.alpha,
    power: req.power,
    arms: req.arms,
    minimumDetectableEffect: effect,
    relativeMinimumDetectableEffect: effect === null ? null : effect / req.baseline,
    sampleSizePerArm: n,
    totalSampleSize: n === null ? null : n * req.arms,
    achievedPower:
      effect === null || n === null
        ? null
        : powerOfTwoProportions(req.baseline, req.baseline + effect, n, req.alpha),
  };
}
