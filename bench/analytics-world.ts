/**
 * Synthetic retail event logs for the analytics benchmark, generated straight into typed arrays
 * (ten million events in a few seconds). Each profile browses in sessions that arrive from a
 * channel; inside a session it searches, views products, adds them to the cart, checks out and
 * orders with the probabilities below, with the retail world's other events as noise. Times are
 * strictly increasing within a profile; the generator is seeded, so every run sees the same log.
 */
import { CATEGORIES, pickName } from './retail-world.ts';

export const CHANNELS = ['email', 'push', 'search', 'social', 'display', 'direct'];

/** The log in columns; −1 / NaN mark a missing property. */
export interface World {
  readonly length: number;
  readonly profiles: number;
  readonly names: string[];
  readonly profile: Int32Array;
  readonly name: Int32Array;
  readonly ts: Float64Array;
  /** Index into CATEGORIES (Product Viewed / Added, Order Completed). */
  readonly category: Int8Array;
  /** Product Viewed / Added. */
  readonly price: Float64Array;
  /** Order Completed. */
  readonly revenue: Float64Array;
  /** The session's channel (index into CHANNELS), on each session's first event. */
  readonly channel: Int8Array;
}

/** mulberry32. */
export function random(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);

/** Events of `profiles` profiles, about `events` in all (each profile gets at least one). */
export function generateWorld(events: number, profiles: number, seed = 1): World {
  const r = random(seed);
  const names = [
    'Product Viewed',
    'Product Added',
    'Checkout Started',
    'Order Completed',
    'Search Performed',
    'Cart Viewed',
    'Email Opened',
    'Email Clicked',
    'Push Opened',
    'Workout Completed',
    'Wishlist Added',
    'Store Visited',
    'Support Ticket Opened',
    'Review Submitted',
    'Order Delivered',
    'Order Refunded',
  ];
  const id = new Map(names.map((n, i) => [n, i]));
  const [VIEW, ADD, CHECKOUT, ORDER, SEARCH] = [0, 1, 2, 3, 4];
  const profile = new Int32Array(events);
  const name = new Int32Array(events);
  const ts = new Float64Array(events);
  const category = new Int8Array(events).fill(-1);
  const price = new Float64Array(events).fill(Number.NaN);
  const revenue = new Float64Array(events).fill(Number.NaN);
  const channel = new Int8Array(events).fill(-1);

  let i = 0;
  for (let p = 0; p < profiles; p++) {
    // Split the remaining events evenly over the remaining profiles, ± half.
    const left = events - i;
    const share = left / (profiles - p);
    const count =
      p === profiles - 1
        ? left
        : Math.max(1, Math.min(left - (profiles - p - 1), Math.round(share * (0.5 + r()))));
    let t = START + Math.floor(r() * 60 * DAY);
    let last = -1;
    let cat = -1;
    for (let k = 0; k < count; k++, i++) {
      const newSession = k === 0 || r() < 0.12;
      if (k > 0) t += newSession ? DAY * (0.5 + r() * 6) : MINUTE * (0.2 + -Math.log(1 - r()) * 4);
      t = Math.floor(t) + 1;
      if (newSession) channel[i] = Math.floor(r() * CHANNELS.length);
      const x = r();
      let n: number;
      if (last === VIEW) n = x < 0.28 ? ADD : x < 0.6 ? VIEW : -1;
      else if (last === ADD) n = x < 0.4 ? CHECKOUT : x < 0.6 ? VIEW : -1;
      else if (last === CHECKOUT) n = x < 0.55 ? ORDER : -1;
      else if (last === SEARCH) n = x < 0.6 ? VIEW : -1;
      else n = x < 0.35 ? VIEW : x < 0.45 ? SEARCH : -1;
      if (n < 0) n = id.get(pickName(r()))!;
      profile[i] = p;
      name[i] = n;
      ts[i] = t;
      if (n === VIEW || n === ADD) {
        if (n === VIEW || cat < 0) cat = Math.floor(r() * CATEGORIES.length);
        category[i] = cat;
        price[i] = Math.round(r() * 20000) / 100;
      } else if (n === ORDER) {
        category[i] = cat < 0 ? Math.floor(r() * CATEGORIES.length) : cat;
        revenue[i] = Math.round(r() * 30000) / 100;
      }
      last = n;
    }
  }
  return { length: events, profiles, names, profile, name, ts, category, price, revenue, channel };
}
