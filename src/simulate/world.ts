/**
 * The world the customers share: the simulated period, local calendars and prices.
 */

import { utcOffset } from '../core/wall-clock.ts';
import type { Country, Product } from './catalog.ts';
import {
  CITIES,
  DEVICE_PROFILES,
  INTEREST_WEIGHTS,
  INTERESTS,
  PRODUCTS,
  TRAFFIC_SOURCES,
} from './catalog.ts';
import { localPrice } from './money.ts';
import { WeightedTable } from './random.ts';
import type { SimulateOptions } from './simulate-options.ts';
import { DAY, HOUR, MINUTE } from './time.ts';

const NO_OFFSET = -0x80000000;

/**
 * The simulated period with its local-time calendar (time-zone offsets, local days, weekdays and
 * dates, all cached), prices in each market's currency, and the weighted tables customers are drawn
 * from. Shared by all customers; holds no random state.
 */
export class World {
  readonly seed: number;
  readonly start: number;
  readonly end: number;
  /** UTC midnight on or before start: local day 0 is the calendar date of `base`. */
  readonly base: number;
  /** Last local day index that can overlap the period (the first is −1). */
  readonly lastDay: number;
  readonly cities = new WeightedTable(CITIES, (c) => c.weight);
  readonly devices = new WeightedTable(DEVICE_PROFILES, (d) => d.weight);
  readonly traffic = new WeightedTable(TRAFFIC_SOURCES, (s) => s.weight);
  readonly interests = new WeightedTable(INTERESTS, (i) => INTEREST_WEIGHTS[i]);
  private readonly baseWeekday: number;
  private readonly offsets = new Map<string, Int32Array>();
  private readonly prices = new Map<string, Float64Array>();
  private readonly dates = new Map<number, string>();

  constructor(options: SimulateOptions) {
    this.seed = options.seed;
    this.start = options.start.getTime();
    this.end = this.start + options.days * DAY;
    this.base = Math.floor(this.start / DAY) * DAY;
    this.lastDay = Math.ceil((this.end - this.base) / DAY);
    this.baseWeekday = new Date(this.base).getUTCDay();
  }

  /** UTC offset in minutes of a time zone around local noon of local day d. */
  offsetMinutes(timeZone: string, d: number): number {
    let table = this.offsets.get(timeZone);
    if (!table) {
      // a few weeks past the end too: follow-ups are planned beyond it before being dropped
      table = new Int32Array(this.lastDay + 64).fill(NO_OFFSET);
      this.offsets.set(timeZone, table);
    }
    const i = d + 1;
    if (i < 0 || i >= table.length) return this.computeOffset(timeZone, this.base + d * DAY + 12 * HOUR);
    let offset = table[i] as number;
    if (offset === NO_OFFSET) {
      offset = this.computeOffset(timeZone, this.base + d * DAY + 12 * HOUR);
      table[i] = offset;
    }
    return offset;
  }

  /** The UTC instant of local midnight starting local day d. */
  dayStart(timeZone: string, d: number): number {
    return this.base + d * DAY - this.offsetMinutes(timeZone, d) * MINUTE;
  }

  /** The local day index that contains instant ts. */
  localDay(timeZone: string, ts: number): number {
    let d = Math.floor((ts - this.base) / DAY);
    while (ts < this.dayStart(timeZone, d)) d--;
    while (ts >= this.dayStart(timeZone, d + 1)) d++;
    return d;
  }

  /** Weekday (0 = Sunday) of local day d. */
  weekday(d: number): number {
    return (((this.baseWeekday + d) % 7) + 7) % 7;
  }

  /** The calendar date (YYYY-MM-DD) of local day d. */
  date(d: number): string {
    let date = this.dates.get(d);
    if (date === undefined) {
      date = new Date(this.base + d * DAY).toISOString().slice(0, 10);
      this.dates.set(d, date);
    }
    return date;
  }

  /** A product's price in a market's currency. */
  price(product: Product, country: Country): number {
    let table = this.prices.get(country.code);
    if (!table) {
      table = new Float64Array(PRODUCTS.length);
      for (const p of PRODUCTS) table[p.index] = localPrice(p.price, country);
      this.prices.set(country.code, table);
    }
    return table[product.index] as number;
  }

  private computeOffset(timeZone: string, utc: number): number {
    return Math.round(utcOffset(timeZone, utc) / MINUTE);
  }
}
