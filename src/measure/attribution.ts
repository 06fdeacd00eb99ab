/**
 * Multi-touch attribution: how much of the conversions and conversion value each channel
 * earned, under six models — first touch, last touch, linear, time decay, position based
 * (40/20/40) and the data-driven Markov chain removal effect. Pure: paths in, credits out.
 * Formulas and the choices made here: docs/measurement.md.
 */

import { markovAttribution } from './markov-attribution.ts';
import type { PathTable } from './path-table.ts';

export const ATTRIBUTION_MODELS = [
  'first_touch',
  'last_touch',
  'linear',
  'time_decay',
  'position_based',
  'markov',
] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];

export function isAttributionModel(s: string): s is AttributionModel {
  return (ATTRIBUTION_MODELS as readonly string[]).includes(s);
}

export interface AttributionOptions {
  readonly model: AttributionModel;
  /** Markov: order of the chain; default 1. */
  readonly order?: number;
  /**
   * Time decay, for paths with touch times: a touch this many days before the conversion gets
   * half the weight of one at the conversion; default 7.
   */
  readonly halfLifeDays?: number;
  /**
   * Time decay, for paths without times (aggregated path files): a touch this many touches
   * before the last one gets half its weight; default 1 (each earlier touch half the next).
   */
  readonly halfLifeTouches?: number;
}

export interface ChannelCredit {
  readonly channel: string;
  readonly conversions: number;
  readonly value: number;
  /** Markov only: RE(c) = 1 − P(conversion without c) / P(conversion). */
  readonly removalEffect?: number;
}

export interface AttributionResult {
  readonly model: AttributionModel;
  /** Markov only. */
  readonly order?: number;
  /** Time decay only: the half-life used and its unit. */
  readonly halfLife?: { readonly value: number; readonly unit: 'days' | 'touches' };
  /** Markov only: probability that a path from the start converts. */
  readonly conversionProbability?: number;
  /** Every channel seen, most credited first (ties by name). */
  readonly channels: ChannelCredit[];
  /** Sums over all paths; the channels' credits add up to these. */
  readonly total: { readonly conversions: number; readonly value: number; readonly paths: number };
}

/** Thrown for options out of range. */
export class AttributionOptionsError extends Error {
  override name = 'AttributionOptionsError';
}

/** Fills `weights[0..length)` with the model's split of one path's credit (summing to 1). */
type Splitter = (weights: Float64Array, touches: Int32Array, begin: number, length: number) => void;

function splitterFor(
  model: Exclude<AttributionModel, 'markov'>,
  paths: PathTable,
  options: AttributionOptions,
): Splitter {
  switch (model) {
    case 'first_touch':
      return (w, _t, _b, length) => {
        w.fill(0, 0, length);
        w[0] = 1;
      };
    case 'last_touch':
      return (w, _t, _b, length) => {
        w.fill(0, 0, length);
        w[length - 1] = 1;
      };
    case 'linear':
      return (w, _t, _b, length) => w.fill(1 / length, 0, length);
    case 'position_based':
      return (w, _t, _b, length) => {
        if (length === 1) w[0] = 1;
        else if (length === 2) {
          w[0] = 0.5;
          w[1] = 0.5;
        } else {
          w.fill(0.2 / (length - 2), 0, length);
          w[0] = 0.4;
          w[length - 1] = 0.4;
        }
      };
    case 'time_decay': {
      const days = options.halfLifeDays ?? 7;
      const steps = options.halfLifeTouches ?? 1;
      const ages = paths.ageDays;
      return (w, _t, begin, length) => {
        // A path whose touches all have times decays by age in days, any other by position.
        let timed = ages !== null;
        for (let i = 0; timed && i < length; i++) timed = Number.isFinite(ages![begin + i]!);
        let sum = 0;
        for (let i = 0; i < length; i++) {
          const x = timed ? Math.max(0, ages![begin + i]!) / days : (length - 1 - i) / steps;
          w[i] = 2 ** -x;
          sum += w[i]!;
        }
        for (let i = 0; i < length; i++) w[i]! /= sum;
      };
    }
  }
}

function compareCredits(a: ChannelCredit, b: ChannelCredit): number {
  if (b.conversions !== a.conversions) return b.conversions - a.conversions;
  return a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0;
}

function totals(paths: PathTable): AttributionResult['total'] {
  let conversions = 0;
  let value = 0;
  for (let r = 0; r < paths.rows; r++) {
    conversions += paths.conversions[r]!;
    value += paths.values[r]!;
  }
  return { conversions, value, paths: paths.rows };
}

/** Attributes the conversions and value of `paths` to their channels under one model. */
export function attribute(paths: PathTable, options: AttributionOptions): AttributionResult {
  const { model } = options;
  for (const [name, v] of [
    ['halfLifeDays', options.halfLifeDays],
    ['halfLifeTouches', options.halfLifeTouches],
  ] as const) {
    if (v !== undefined && !(v > 0 && Number.isFinite(v)))
      throw new AttributionOptionsError(`${name} must be a positive number, got ${v}`);
  }
  const total = totals(paths);
  const channels = paths.channels.length;

  if (model === 'markov') {
    const order = options.order ?? 1;
    if (!Number.isInteger(order) || order < 1)
      throw new AttributionOptionsError(`order must be a positive integer, got ${order}`);
    const m = markovAttribution(paths, { order });
    const credits = paths.channels.map((channel, c) => ({
      channel,
      conversions: m.shares[c]! * total.conversions,
      value: m.shares[c]! * total.value,
      removalEffect: m.removalEffects[c]!,
    }));
    return {
      model,
      order,
      conversionProbability: m.conversionProbability,
      channels: credits.sort(compareCredits),
      total,
    };
  }

  const split = splitterFor(model, paths, options);
  const conv = new Float64Array(channels);
  const val = new Float64Array(channels);
  let weights = new Float64Array(64);
  const { offsets, touches, conversions, values } = paths;
  for (let r = 0; r < paths.rows; r++) {
    const c = conversions[r]!;
    const v = values[r]!;
    if (c === 0 && v === 0) continue;
    const begin = offsets[r]!;
    const length = offsets[r + 1]! - begin;
    if (length > weights.length) weights = new Float64Array(length * 2);
    split(weights, touches, begin, length);
    for (let i = 0; i < length; i++) {
      const ch = touches[begin + i]!;
      conv[ch]! += weights[i]! * c;
      val[ch]! += weights[i]! * v;
    }
  }
  const credits = paths.channels.map((channel, c) => ({ channel, conversions: conv[c]!, value: val[c]! }));
  const result: AttributionResult = { model, channels: credits.sort(compareCredits), total };
  if (model !== 'time_decay') return result;
  const timed = paths.ageDays !== null;
  return {
    ...result,
    halfLife: timed
      ? { value: options.halfLifeDays ?? 7, unit: 'days' }
      : { value: options.halfLifeTouches ?? 1, unit: 'touches' },
  };
}
