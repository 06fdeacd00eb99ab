/**
 * The experiment report: from who was assigned to which variation, and when, and from the
 * conversion events, each arm's size, conversions, conversion rate, value per profile and lift
 * over the control arm, with intervals and p-values. Pure: the caller reads the events.
 *
 * The shape is the admin API's `GET /api/experiments/{id}/report` (see the contract), plus a few
 * extra fields (`control`, `windowDays`, `srm`, `crossovers`, per arm `value`, `valueLift` and
 * `lift.relativeCi` / `lift.test`).
 */

import {
  chiSquareGoodnessOfFit,
  compareProportions,
  type Interval,
  meanInterval,
  moments,
  newcombeInterval,
  relativeDifferenceInterval,
  welchTest,
  wilsonInterval,
} from './stats.ts';

const DAY_MS = 86_400_000;

/** The Segment event that records an experiment exposure (A/B-testing spec). */
export const EXPERIMENT_VIEWED = 'Experiment Viewed';

/** One profile's assignment to a variation of an experiment, at a time (ms since the epoch). */
export interface Assignment {
  readonly profileId: string;
  readonly experimentId: string;
  /** The variation id (or its name when the event carried no id). */
  readonly variation: string;
  readonly variationName?: string | null;
  readonly timestamp: number;
  /** The assignment event's message, when a breakdown reads its properties. */
  readonly body?: Readonly<Record<string, unknown>>;
}

/** One conversion event of a profile; `value` is the summed property, when it had one. */
export interface Conversion {
  readonly profileId: string;
  readonly timestamp: number;
  readonly value: number | null;
  /** The conversion event's message, when a breakdown reads its properties. */
  readonly body?: Readonly<Record<string, unknown>>;
}

/** An event as read from the log (the shape of a store scan). */
export interface EventLike {
  readonly profileId: string;
  readonly name: string | null;
  readonly timestamp: number;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface ExperimentReportOptions {
  readonly experimentId: string;
  /**
   * The control variation, by id or name. Default: a variation whose id or name is "control"
   * (any case), otherwise the first variation in sorted order.
   */
  readonly control?: string;
  /** A conversion counts when it is at most this many days after the first assignment; default 14. */
  readonly windowDays?: number;
  /** Confidence level of every interval; default 0.95. */
  readonly confidence?: number;
  /** Planned traffic shares by variation (id or name) for the sample-ratio check; default equal. */
  readonly expectedShares?: Readonly<Record<string, number>>;
  /** p-value below which the sample-ratio check warns; default 0.001. */
  readonly srmThreshold?: number;
  /**
   * Variations to report even when no profile of this population was assigned to them (they
   * get n = 0 and null statistics): a breakdown group lists the experiment's every arm.
   */
  readonly variations?: readonly { readonly variation: string; readonly variationName: string | null }[];
}

/** Lift of an arm over the control arm. Fields are `null` when not estimable (see each). */
export interface Lift {
  /** Conversion-rate difference, arm − control; `null` when either arm is empty. */
  readonly absolute: number | null;
  /** absolute / control rate; `null` when either arm is empty or the control rate is 0. */
  readonly relative: number | null;
  /** Newcombe hybrid score interval of `absolute`; `null` when either arm is empty. */
  readonly ci: Interval | null;
  /** Log-risk-ratio interval of `relative`; `null` when either arm has no conversions. */
  readonly relativeCi: Interval | null;
  /** Two-sided p-value of equal rates; `null` when either arm is empty. */
  readonly pValue: number | null;
  /** The test behind `pValue`: Fisher's exact test when an expected count is below 5. */
  readonly test: 'z' | 'fisher' | null;
}

/** Lift of value per profile over the control arm (Welch). */
export interface ValueLift {
  readonly absolute: number | null;
  readonly relative: number | null;
  readonly ci: Interval | null;
  readonly pValue: number | null;
  readonly df: number | null;
}

export interface ArmReport {
  readonly variation: string;
  readonly variationName: string | null;
  /** Profiles assigned to the arm (by their first assignment). */
  readonly n: number;
  /** Profiles of the arm that converted within the window. */
  readonly conversions: number;
  /** conversions / n; `null` for an empty arm. */
  readonly conversionRate: number | null;
  /** Wilson score interval of the rate; `null` for an empty arm. */
  readonly conversionRateCi: Interval | null;
  /** Sum of the value property over the counted conversions. */
  readonly value: number;
  /** value / n (profiles without a conversion count as 0); `null` for an empty arm. */
  readonly valuePerProfile: number | null;
  /** Student's t interval of the mean value per profile; `null` with fewer than two profiles or no spread. */
  readonly valuePerProfileCi: Interval | null;
  /** `null` for the control arm. */
  readonly lift: Lift | null;
  /** `null` for the control arm. */
  readonly valueLift: ValueLift | null;
}

export interface SampleRatioCheck {
  readonly chiSquare: number;
  readonly df: number;
  readonly pValue: number;
  /** The expected share of each arm, in the order of `arms`. */
  readonly expectedShares: number[];
  /** True when pValue is below the threshold: the split is not what was planned; distrust the lift. */
  readonly warning: boolean;
}

export interface ExperimentReport {
  readonly experiment: string;
  readonly control: string | null;
  readonly windowDays: number;
  readonly confidence: number;
  readonly arms: ArmReport[];
  /** `null` with fewer than two arms or no profiles. */
  readonly srm: SampleRatioCheck | null;
  /** Profiles seen in more than one variation; each is counted in the arm of its first assignment. */
  readonly crossovers: number;
  /** Plain-language warnings about the report's validity (a sample-ratio mismatch). */
  readonly warnings: string[];
}

/** Thrown when the requested control is not one of the experiment's variations. */
export class UnknownVariationError extends Error {
  override name = 'UnknownVariationError';
  constructor(
    readonly variation: string,
    readonly known: readonly string[],
  ) {
    super(
      `no variation '${variation}' in this experiment; its variations are ${known.map((k) => `'${k}'`).join(', ') || 'none'}`,
    );
  }
}

/** Thrown for options out of range (window, confidence, shares). */
export class ReportOptionsError extends Error {
  override name = 'ReportOptionsError';
}

function asId(v: unknown): string | null {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function propertiesOf(body: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const p = body.properties;
  return typeof p === 'object' && p !== null && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}

/**
 * The assignment an `Experiment Viewed` event records for `experimentId`, or null when the
 * event is about another experiment or names no variation. The experiment is matched on
 * `experiment_id`, or on `experiment_name` when the event has no id; the variation is
 * `variation_id`, or `variation_name` when there is no id.
 */
export function assignmentFromEvent(event: EventLike, experimentId: string): Assignment | null {
  if (event.name !== EXPERIMENT_VIEWED) return null;
  const p = propertiesOf(event.body);
  const experiment = asId(p.experiment_id) ?? asId(p.experiment_name);
  if (experiment !== experimentId) return null;
  const variationId = asId(p.variation_id);
  const variationName = asId(p.variation_name);
  const variation = variationId ?? variationName;
  if (variation === null) return null;
  return { profileId: event.profileId, experimentId, variation, variationName, timestamp: event.timestamp };
}

/** The assignments to `experimentId` among `events` (see {@link assignmentFromEvent}). */
export function assignmentsFromEvents(events: Iterable<EventLike>, experimentId: string): Assignment[] {
  const out: Assignment[] = [];
  for (const e of events) {
    const a = assignmentFromEvent(e, experimentId);
    if (a !== null) out.push(a);
  }
  return out;
}

/**
 * A numeric property of an event, by dotted path inside `properties` (`revenue`,
 * `order.total`; a leading `properties.` is allowed). Numbers and numeric strings count; anything
 * else is null.
 */
export function numericProperty(body: Readonly<Record<string, unknown>>, path: string): number | null {
  const parts = (path.startsWith('properties.') ? path.slice('properties.'.length) : path).split('.');
  let v: unknown = propertiesOf(body);
  for (const part of parts) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, part)) return null;
    v = (v as Record<string, unknown>)[part];
  }
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** A conversion from an event, its value read from `valueProperty` when given. */
export function conversionFromEvent(event: EventLike, valueProperty?: string): Conversion {
  return {
    profileId: event.profileId,
    timestamp: event.timestamp,
    value: valueProperty === undefined ? null : numericProperty(event.body, valueProperty),
  };
}

interface ArmState {
  readonly variation: string;
  variationName: string | null;
  readonly profiles: string[];
}

function chooseControl(arms: readonly ArmState[], requested: string | undefined): ArmState | null {
  if (arms.length === 0) {
    if (requested !== undefined) throw new UnknownVariationError(requested, []);
    return null;
  }
  if (requested !== undefined) {
    const found =
      arms.find((a) => a.variation === requested) ?? arms.find((a) => a.variationName === requested);
    if (!found)
      throw new UnknownVariationError(
        requested,
        arms.map((a) => a.variation),
      );
    return found;
  }
  const named = arms.find(
    (a) => a.variation.toLowerCase() === 'control' || a.variationName?.toLowerCase() === 'control',
  );
  return named ?? arms[0]!;
}

/**
 * Builds the report. Each profile belongs to the arm of its first assignment (earliest
 * timestamp). A conversion counts for a profile when it happened after that first assignment
 * and at most `windowDays` days later; the arm's `conversions` counts converted profiles, and
 * `value` sums the values of every counted conversion.
 */
export function buildExperimentReport(
  assignments: Iterable<Assignment>,
  conversions: Iterable<Conversion>,
  options: ExperimentReportOptions,
): ExperimentReport {
  const windowDays = options.windowDays ?? 14;
  const confidence = options.confidence ?? 0.95;
  const srmThreshold = options.srmThreshold ?? 0.001;
  if (!(windowDays > 0 && Number.isFinite(windowDays)))
    throw new ReportOptionsError(`windowDays must be a positive number, got ${windowDays}`);
  if (!(confidence > 0 && confidence < 1))
    throw new ReportOptionsError(`confidence must be between 0 and 1, got ${confidence}`);
  const windowMs = windowDays * DAY_MS;

  // First assignment per profile.
  const first = new Map<string, Assignment>();
  const seenVariations = new Map<string, Set<string>>();
  for (const a of assignments) {
    if (a.experimentId !== options.experimentId) continue;
    const current = first.get(a.profileId);
    if (current === undefined || a.timestamp < current.timestamp) first.set(a.profileId, a);
    let vs = seenVariations.get(a.profileId);
    if (vs === undefined) {
      vs = new Set();
      seenVariations.set(a.profileId, vs);
    }
    vs.add(a.variation);
  }
  let crossovers = 0;
  for (const vs of seenVariations.values()) if (vs.size > 1) crossovers++;

  const armsByVariation = new Map<string, ArmState>();
  for (const v of options.variations ?? [])
    armsByVariation.set(v.variation, {
      variation: v.variation,
      variationName: v.variationName,
      profiles: [],
    });
  for (const [profileId, a] of first) {
    let arm = armsByVariation.get(a.variation);
    if (arm === undefined) {
      arm = { variation: a.variation, variationName: null, profiles: [] };
      armsByVariation.set(a.variation, arm);
    }
    arm.variationName ??= a.variationName ?? null;
    arm.profiles.push(profileId);
  }
  const sorted = [...armsByVariation.values()].sort((x, y) =>
    x.variation < y.variation ? -1 : x.variation > y.variation ? 1 : 0,
  );
  const control = chooseControl(sorted, options.control);
  const ordered = control === null ? [] : [control, ...sorted.filter((a) => a !== control)];

  // Counted conversions per assigned profile.
  const converted = new Set<string>();
  const valueByProfile = new Map<string, number>();
  for (const c of conversions) {
    const a = first.get(c.profileId);
    if (a === undefined) continue;
    if (!(c.timestamp > a.timestamp && c.timestamp <= a.timestamp + windowMs)) continue;
    converted.add(c.profileId);
    if (c.value !== null && Number.isFinite(c.value))
      valueByProfile.set(c.profileId, (valueByProfile.get(c.profileId) ?? 0) + c.value);
  }

  interface Tally {
    readonly arm: ArmState;
    readonly n: number;
    readonly x: number;
    readonly values: number[];
    readonly total: number;
  }
  const tallies: Tally[] = ordered.map((arm) => {
    let x = 0;
    let total = 0;
    const values = arm.profiles.map((id) => {
      if (converted.has(id)) x++;
      const v = valueByProfile.get(id) ?? 0;
      total += v;
      return v;
    });
    return { arm, n: arm.profiles.length, x, values, total };
  });
  const controlTally = tallies[0];
  const controlMoments = controlTally ? moments(controlTally.values) : null;

  const arms: ArmReport[] = tallies.map((t, i) => {
    const m = moments(t.values);
    const base = {
      variation: t.arm.variation,
      variationName: t.arm.variationName,
      n: t.n,
      conversions: t.x,
      conversionRate: t.n > 0 ? t.x / t.n : null,
      conversionRateCi: wilsonInterval(t.x, t.n, confidence),
      value: t.total,
      valuePerProfile: t.n > 0 ? t.total / t.n : null,
      valuePerProfileCi: meanInterval(m, confidence),
    };
    if (i === 0 || controlTally === undefined) return { ...base, lift: null, valueLift: null };
    return {
      ...base,
      lift: rateLift(t.x, t.n, controlTally.x, controlTally.n, confidence),
      valueLift: valueLift(m, controlMoments, confidence),
    };
  });

  const srm = sampleRatio(arms, options.expectedShares, srmThreshold);
  const warnings: string[] = [];
  if (srm?.warning)
    warnings.push(
      `sample ratio mismatch: the arms hold ${arms.map((a) => `${a.n} (${a.variation})`).join(', ')} profiles where shares of ${srm.expectedShares.map((s) => `${Math.round(s * 1000) / 10} %`).join(', ')} were planned (chi-square p = ${srm.pValue.toPrecision(3)}); assignment or logging is likely broken, so do not trust the lift`,
    );
  return {
    experiment: options.experimentId,
    control: control?.variation ?? null,
    windowDays,
    confidence,
    arms,
    srm,
    crossovers,
    warnings,
  };
}

function rateLift(x: number, n: number, xc: number, nc: number, confidence: number): Lift {
  if (n === 0 || nc === 0)
    return { absolute: null, relative: null, ci: null, relativeCi: null, pValue: null, test: null };
  const rate = x / n;
  const controlRate = xc / nc;
  const absolute = rate - controlRate;
  const test = compareProportions(x, n, xc, nc);
  return {
    absolute,
    relative: controlRate > 0 ? absolute / controlRate : null,
    ci: newcombeInterval(x, n, xc, nc, confidence)?.ci ?? null,
    relativeCi: relativeDifferenceInterval(x, n, xc, nc, confidence),
    pValue: test?.pValue ?? null,
    test: test?.test ?? null,
  };
}

function valueLift(
  arm: ReturnType<typeof moments>,
  control: ReturnType<typeof moments>,
  confidence: number,
): ValueLift {
  const w = welchTest(arm, control, confidence);
  if (w === null || control === null)
    return { absolute: null, relative: null, ci: null, pValue: null, df: null };
  return {
    absolute: w.difference,
    relative: control.mean > 0 ? w.difference / control.mean : null,
    ci: w.ci,
    pValue: w.pValue,
    df: w.df,
  };
}

function sampleRatio(
  arms: readonly ArmReport[],
  shares: Readonly<Record<string, number>> | undefined,
  threshold: number,
): SampleRatioCheck | null {
  if (arms.length < 2) return null;
  const expected = arms.map((a) => {
    if (shares === undefined) return 1;
    const s = shares[a.variation] ?? (a.variationName !== null ? shares[a.variationName] : undefined);
    if (s === undefined) throw new ReportOptionsError(`no expected share for variation '${a.variation}'`);
    if (!(s >= 0 && Number.isFinite(s)))
      throw new ReportOptionsError(`expected share of '${a.variation}' must be a non-negative number`);
    return s;
  });
  const fit = chiSquareGoodnessOfFit(
    arms.map((a) => a.n),
    expected,
  );
  if (fit === null) return null;
  const sum = expected.reduce((s, e) => s + e, 0);
  return {
    chiSquare: fit.chiSquare,
    df: fit.df,
    pValue: fit.pValue,
    expectedShares: expected.map((e) => e / sum),
    warning: fit.pValue < threshold,
  };
}
