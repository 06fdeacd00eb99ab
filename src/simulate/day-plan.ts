/**
 * A customer's day: which visits, runs, e-mails, push notifications, store visits and support
 * contacts it brings.
 */

import { updatePreferences } from './account.ts';
import { clamp } from './clamp.ts';
import type { Customer } from './customer.ts';
import { marketingEmail } from './email.ts';
import { pushCampaign } from './push.ts';
import { storeVisit } from './store-visit.ts';
import { openTicket } from './support-ticket.ts';
import { DAY, HOUR, MINUTE } from './time.ts';
import { logWorkout } from './workout.ts';

/** Session likelihood by local weekday, Sunday first. */
const WEEKDAY_WEIGHTS: readonly number[] = [1.25, 0.95, 0.92, 0.95, 1, 1, 1.2];

/**
 * Plans the customer's local day d, run at its local midnight: schedules the day's activity and the
 * plan of the next day (anonymous visitors stop planning once they have lost interest).
 */
export function planDay(customer: Customer, d: number): void {
  const world = customer.world;
  const rng = customer.rng;
  const tz = customer.tz;
  const over = customer.lifecycle === 'anonymous' && d > customer.lastActiveDay;
  if (d + 1 <= world.lastDay && !over)
    customer.schedule(world.dayStart(tz, d + 1), () => planDay(customer, d + 1));
  const weekday = world.weekday(d);

  // browsing sessions
  if (d <= customer.lastActiveDay && customer.sessions < customer.maxSessions) {
    let n = rng.poisson(customer.sessionRate * (WEEKDAY_WEIGHTS[weekday] ?? 1));
    if (d === customer.firstDay && customer.lifecycle !== 'existing') n = Math.max(1, n);
    for (let k = 0; k < n; k++) {
      const ts = customer.localTime(d, customer.activeHour());
      customer.activity(ts, () => customer.visit(customer.pickDevice(), { buy: 0 }));
    }
  }

  // runs, synced from a fitness app once the customer has connected it (needs an account)
  const runner = customer.runner;
  if (runner && customer.identified) {
    const longRunDay = weekday === 0 || weekday === 6;
    if (rng.chance((runner.runsPerWeek / 7) * (longRunDay ? 1.3 : 0.9))) {
      const hour = rng.chance(0.55) ? rng.float(5.5, 8.5) : rng.float(17, 20.5);
      const ts = customer.localTime(d, hour);
      const miles = clamp(rng.around(runner.milesPerRun * (longRunDay ? 1.5 : 1), 0.3), 1, 26.2);
      customer.activity(ts, () => logWorkout(customer, miles, rng.float(8, 11.5)));
    }
  }

  // e-mail: weekly newsletter on Tuesday (sent at 08:00 local), promotion blast on Friday (15:00 UTC)
  if (customer.identified) {
    if (weekday === 2) {
      const ts = customer.localTime(d, 8 + rng.next() * 0.5);
      customer.activity(ts, () => marketingEmail(customer, 'newsletter', d));
    }
    const dayStart = world.dayStart(tz, d);
    const dayEnd = world.dayStart(tz, d + 1);
    for (let u = d - 1; u <= d + 1; u++) {
      const blast = world.base + u * DAY + 15 * HOUR;
      if (world.weekday(u) === 5 && blast >= dayStart && blast < dayEnd) {
        const ts = blast + rng.int(0, 90 * MINUTE);
        customer.activity(ts, () => marketingEmail(customer, 'promotion', u));
      }
    }
  }

  // app push campaign on Thursday evening
  const app = customer.appDevice();
  if (app && weekday === 4) {
    const ts = customer.localTime(d, 18 + rng.next() * 0.4);
    customer.activity(ts, () => pushCampaign(customer, app, rng.pick(customer.interests)));
  }

  // store visits, seen by the beacons in our stores through the app
  if (app && customer.city.stores.length > 0 && d <= customer.lastActiveDay) {
    if (rng.chance(weekday === 6 ? 0.03 : 0.012)) {
      const ts = customer.localTime(d, rng.float(10, 19));
      customer.activity(ts, () => storeVisit(customer, app));
    }
  }

  // support contacts out of the blue
  if (customer.identified && rng.chance(0.0012)) {
    const ts = customer.localTime(d, rng.float(8, 21));
    customer.activity(ts, () => openTicket(customer));
  }

  // zero-party data: updates their preferences now and then
  if (customer.identified && rng.chance(0.0008)) {
    const ts = customer.localTime(d, customer.activeHour());
    customer.activity(ts, () => updatePreferences(customer));
  }
}
