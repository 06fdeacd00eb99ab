/**
 * Runners: customers whose running shoes wear out as they log their runs.
 */

import type { Product } from './catalog.ts';
import { PRODUCTS_BY_INTEREST } from './catalog.ts';
import { clamp } from './clamp.ts';
import type { Rng } from './random.ts';

/** A runner's habits and the pair of shoes they are wearing out. */
export interface Runner {
  runsPerWeek: number;
  milesPerRun: number;
  replaceAfter: number;
  shoe: Product;
  shoeMiles: number;
  nextNudge: number;
}

/** Draws a runner's habits and current shoes, somewhere into their life. */
export function makeRunner(rng: Rng): Runner {
  const shoe = rng.pick(PRODUCTS_BY_INTEREST.running.filter((p) => p.replaceAfterMiles));
  const replaceAfter = (shoe.replaceAfterMiles ?? 400) * clamp(rng.around(1, 0.15), 0.7, 1.4);
  return {
    runsPerWeek: clamp(rng.around(3.2, 0.35), 1, 7),
    milesPerRun: clamp(rng.around(4.5, 0.35), 1.5, 13),
    replaceAfter,
    shoe,
    shoeMiles: rng.next() * replaceAfter,
    nextNudge: 0,
  };
}
