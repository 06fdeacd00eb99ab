/**
 * Runs synced from a fitness app, and the shoe purchases they lead to.
 */

import { PRODUCTS_BY_INTEREST } from './catalog.ts';
import type { Customer } from './customer.ts';
import { DAY, HOUR } from './time.ts';

/**
 * Logs a run of the customer now (`miles` at `minutesPerMile`), wearing their shoes further. Once the
 * shoes are worn out, the runner comes looking for a new pair within the week (not on a fixed
 * calendar), at most every ten days.
 */
export function logWorkout(customer: Customer, miles: number, minutesPerMile: number): void {
  const runner = customer.runner;
  if (!runner) return;
  const rng = customer.rng;
  const now = customer.now;
  const distance = Math.round(miles * 100) / 100;
  runner.shoeMiles += distance;
  customer.server(now, 'Workout Logged', {
    workout_id: `wo_${rng.hex(12)}`,
    activity: 'run',
    distance_miles: distance,
    duration_minutes: Math.round(distance * minutesPerMile * 10) / 10,
    shoe_sku: runner.shoe.sku,
    shoe_miles: Math.round(runner.shoeMiles),
    source: 'fitness_app',
  });
  // worn-out shoes: they come looking for a new pair (not on a fixed calendar)
  if (runner.shoeMiles >= runner.replaceAfter && now >= runner.nextNudge) {
    runner.nextNudge = now + 10 * DAY;
    const d = customer.world.localDay(customer.tz, now) + rng.int(0, 6);
    const ts = Math.max(now + HOUR, customer.localTime(d, customer.activeHour()));
    const same = rng.chance(0.65);
    const shoe = same
      ? runner.shoe
      : rng.pick(PRODUCTS_BY_INTEREST.running.filter((p) => p.replaceAfterMiles));
    customer.activity(ts, () =>
      customer.visit(customer.pickDevice(), { products: [shoe], interest: 'running', buy: 0.75 }),
    );
  }
}
