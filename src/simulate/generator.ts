/**
 * Synthetic retail customers, each living a small story, as a stream of Segment-spec messages.
 *
 * Every customer is an independent discrete-event simulation with its own seeded random stream and a
 * small priority queue of pending actions (plan a day, run a browsing session, deliver an e-mail, …)
 * and ready messages. `simulate()` merges all customers' streams with a binary heap keyed on the next
 * message's timestamp, so the output is globally ordered by time and memory grows with the number of
 * customers, never with the number of messages. The same options always give the same output.
 */

import type {
  City,
  Country,
  DeviceProfile,
  Interest,
  Product,
  TicketPriority,
  TrafficKind,
} from './catalog.ts';
import {
  CARRIERS,
  CATEGORIES,
  CITIES,
  COMPANY_WORDS,
  COUNTRIES,
  DEVICE_PROFILES,
  EMAIL_DOMAINS,
  INTEREST_WEIGHTS,
  INTERESTS,
  NAMES,
  PAID_CAMPAIGNS,
  PRODUCTS,
  PRODUCTS_BY_INTEREST,
  REVIEW_TEXTS,
  SEARCH_QUERIES,
  SHOP,
  TICKET_PRIORITIES,
  TICKET_SUBJECTS,
  TRAFFIC_SOURCES,
} from './catalog.ts';
import { hashSeed, Rng, WeightedTable } from './random.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface SimulateOptions {
  /** How many customers (people) to simulate. */
  customers: number;
  /** Seed of the random streams: the same options give the same output, byte for byte. */
  seed: number;
  /** Start of the simulated period (inclusive). */
  start: Date;
  /** Length of the simulated period in days; every timestamp lies in [start, start + days). */
  days: number;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type MessageType = 'identify' | 'track' | 'page' | 'screen' | 'group' | 'alias';
export type MessageChannel = 'browser' | 'mobile' | 'server';

export type PageContext = { path: string; referrer: string; search: string; title: string; url: string };
export type CampaignContext = { source: string; medium: string; name: string; content?: string };

export type SimulatedContext = {
  channel: MessageChannel;
  library: { name: string; version: string };
  ip?: string;
  userAgent?: string;
  locale?: string;
  timezone?: string;
  app?: { name: string; version: string; build: string; namespace: string };
  device?: { id: string; type: string; manufacturer: string; model: string };
  os?: { name: string; version: string };
  page?: PageContext;
  campaign?: CampaignContext;
};

/** One Segment-spec message, plain JSON. */
export type SimulatedMessage = {
  type: MessageType;
  messageId: string;
  /** ISO 8601, UTC, millisecond precision. */
  timestamp: string;
  userId?: string;
  anonymousId?: string;
  /** alias: the anonymous id being linked to userId. */
  previousId?: string;
  /** group: the account the user belongs to. */
  groupId?: string;
  /** track: the event name. */
  event?: string;
  /** page / screen: the page or screen name. */
  name?: string;
  properties?: JsonObject;
  traits?: JsonObject;
  context: SimulatedContext;
};

/* ------------------------------------------------------------------------------------------------ */
/* Time and the shared world                                                                         */
/* ------------------------------------------------------------------------------------------------ */

const NO_OFFSET = -0x80000000;

/** Session start hours (local time): quiet at night, peaks at lunch and in the evening. */
const HOUR_WEIGHTS: readonly number[] = [
  0.5, 0.25, 0.12, 0.08, 0.08, 0.2, 0.6, 1.4, 2.1, 2.5, 2.8, 3, 3.4, 3.2, 2.8, 2.7, 2.8, 3.1, 3.6, 4.4, 4.8,
  4.3, 3.1, 1.5,
];
/** Session likelihood by local weekday, Sunday first. */
const WEEKDAY_WEIGHTS: readonly number[] = [1.25, 0.95, 0.92, 0.95, 1, 1, 1.2];
const HOURS: readonly number[] = Array.from({ length: 24 }, (_, h) => h);
/** Hour tables for early birds (−2) to night owls (+2). */
const HOUR_TABLES: readonly WeightedTable<number>[] = [-2, -1, 0, 1, 2].map(
  (shift) => new WeightedTable(HOURS, (h) => HOUR_WEIGHTS[(h - shift + 24) % 24] ?? 0),
);

class World {
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
  private readonly formatters = new Map<string, Intl.DateTimeFormat>();
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
    let format = this.formatters.get(timeZone);
    if (!format) {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
      });
      this.formatters.set(timeZone, format);
    }
    const parts: Record<string, number> = {};
    for (const part of format.formatToParts(new Date(utc))) parts[part.type] = Number(part.value);
    const local = Date.UTC(
      parts.year ?? 1970,
      (parts.month ?? 1) - 1,
      parts.day ?? 1,
      parts.hour ?? 0,
      parts.minute ?? 0,
    );
    return Math.round((local - Math.floor(utc / MINUTE) * MINUTE) / MINUTE);
  }
}

function localPrice(usd: number, country: Country): number {
  if (country.usdRate === 1) return usd;
  const value = usd * country.usdRate;
  if (country.decimals === 0) return value >= 1000 ? Math.round(value / 10) * 10 : Math.round(value);
  // charm pricing: 17.23 becomes 16.99
  return value >= 1 ? money(Math.round(value) - 0.01, 2) : money(value, 2);
}

function money(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** Every message gets its own context objects, so a consumer may change one without touching others. */
function serverContext(): SimulatedContext {
  return { channel: 'server', library: { ...SHOP.serverLibrary } };
}

const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
let isoDay = Number.NaN;
let isoPrefix = '';

/** Same as `new Date(ts).toISOString()`, faster: the date part is cached, the time part assembled. */
function iso(ts: number): string {
  const day = Math.floor(ts / DAY);
  if (day !== isoDay) {
    isoDay = day;
    isoPrefix = new Date(day * DAY).toISOString().slice(0, 11);
  }
  let ms = ts - day * DAY;
  const h = Math.floor(ms / HOUR);
  ms -= h * HOUR;
  const m = Math.floor(ms / MINUTE);
  ms -= m * MINUTE;
  const sec = Math.floor(ms / SECOND);
  ms -= sec * SECOND;
  return `${isoPrefix}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[sec]}.${THREE_DIGITS[ms]}Z`;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function asciiSlug(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '');
}

/* ------------------------------------------------------------------------------------------------ */
/* Small priority queues                                                                             */
/* ------------------------------------------------------------------------------------------------ */

interface Item {
  ts: number;
  seq: number;
  msg: SimulatedMessage | null;
  act: (() => void) | null;
}

function itemBefore(a: Item, b: Item): boolean {
  return a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);
}

function pushItem(heap: Item[], item: Item): void {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent] as Item;
    if (!itemBefore(item, p)) break;
    heap[i] = p;
    i = parent;
  }
  heap[i] = item;
}

function popItem(heap: Item[]): Item | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (top === undefined || last === undefined || heap.length === 0) return top;
  let i = 0;
  const n = heap.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    let c = l;
    if (r < n && itemBefore(heap[r] as Item, heap[l] as Item)) c = r;
    if (!itemBefore(heap[c] as Item, last)) break;
    heap[i] = heap[c] as Item;
    i = c;
  }
  heap[i] = last;
  return top;
}

/* ------------------------------------------------------------------------------------------------ */
/* Customers                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

type Lifecycle = 'existing' | 'prospect' | 'anonymous';

interface Device {
  readonly profile: DeviceProfile;
  readonly app: boolean;
  readonly anonymousId: string;
  readonly deviceId: string;
  readonly ip: string;
  /** Whether the customer has logged in on this device (its messages then carry the userId). */
  loggedIn: boolean;
}

interface Landing {
  kind: TrafficKind;
  referrer: string;
  campaign?: CampaignContext;
}

interface Intent {
  interest?: Interest;
  /** Products the visit is about (e-mail link, push offer, replenishment, wish list). */
  products?: readonly Product[];
  /** Probability of adding the intended products to the cart and of checking out. */
  buy: number;
  landing?: Landing;
  coupon?: string;
}

interface CartLine {
  product: Product;
  quantity: number;
}

interface Runner {
  runsPerWeek: number;
  milesPerRun: number;
  replaceAfter: number;
  shoe: Product;
  shoeMiles: number;
  nextNudge: number;
}

type Totals = {
  subtotal: number;
  discount: number;
  revenue: number;
  shipping: number;
  tax: number;
  total: number;
};

type ProductLine = {
  product_id: string;
  sku: string;
  name: string;
  category: string;
  brand: string;
  price: number;
  quantity: number;
};

const LIFECYCLES: readonly Lifecycle[] = ['existing', 'prospect', 'anonymous'];
const LIFECYCLE_WEIGHTS: readonly number[] = [0.45, 0.35, 0.2];
const READING_HOURS: readonly number[] = [6, 7, 8, 12, 13, 17, 19, 20, 21, 22];
const READING_HOUR_WEIGHTS: readonly number[] = [0.6, 1.4, 1.3, 1.1, 0.6, 0.5, 0.9, 1.3, 1.3, 0.8];
/** Probability of reading e-mail on a given weekday (Sunday first), by reading pattern. */
const READING_PATTERNS: readonly (readonly number[])[] = [
  [0.25, 0.8, 0.8, 0.8, 0.8, 0.7, 0.25], // weekday reader
  [0.35, 0.05, 0.05, 0.05, 0.05, 0.1, 0.95], // Saturday reader
  [0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6], // every day
];
const READING_PATTERN_WEIGHTS: readonly number[] = [0.5, 0.2, 0.3];
const PRIORITY_WEIGHTS: readonly number[] = [0.3, 0.4, 0.2, 0.1];
/** Median hours to resolve a ticket, by priority (critical ones are hard and may take days). */
const RESOLUTION_HOURS: Readonly<Record<TicketPriority, number>> = {
  low: 40,
  normal: 20,
  high: 9,
  critical: 30,
};

class Customer {
  readonly index: number;
  /** Time of the next pending item, message or action (valid after refresh() returned true). */
  nextTs = 0;

  private readonly world: World;
  /** The customer's own random stream (shared with their sessions). */
  readonly rng: Rng;
  private readonly queue: Item[] = [];
  private seq = 0;
  private now = 0;

  // who they are
  private readonly lifecycle: Lifecycle;
  private readonly city: City;
  private readonly country: Country;
  private readonly tz: string;
  private readonly userId: string;
  private readonly firstName: string;
  private readonly lastName: string;
  private readonly email: string;
  private readonly phone: string;
  private readonly birthday: string;
  private createdAt: number;
  private readonly interests: readonly Interest[];
  private interestedIn: string[];
  private readonly consent: { email: boolean; sms: boolean; push: boolean };
  private readonly loyaltyTier: string;
  private readonly homeMovedIn: string | undefined;
  private readonly business: { groupId: string; traits: JsonObject } | undefined;
  private readonly devices: Device[];
  private readonly hourTable: WeightedTable<number>;
  private readonly sessionRate: number;
  private readonly readingHour: number;
  private readonly readingDays: readonly number[];
  private readonly openRate: number;
  private readonly clickRate: number;
  private readonly paceFactor: number;
  private readonly firstDay: number;
  private readonly lastActiveDay: number;
  private readonly identifyAtSession: number;
  private readonly maxSessions: number;
  private readonly runner: Runner | undefined;

  // what has happened so far
  private identified: boolean;
  private sessions = 0;
  private unsubscribedAt = Number.POSITIVE_INFINITY;
  private cart: CartLine[] = [];
  private cartId: string;
  private wishlist: Product[] = [];
  private storeVisitPlanned = false;
  private groupSent = false;
  /** Skus with a repurchase already planned (usually none or one or two). */
  private replenishing: Product[] = [];

  constructor(world: World, index: number) {
    this.world = world;
    this.index = index;
    const rng = new Rng(hashSeed(world.seed, index, 0x51a7));
    this.rng = rng;

    this.city = world.cities.pick(rng);
    const country = COUNTRIES[this.city.country];
    if (!country) throw new Error(`unknown country ${this.city.country}`);
    this.country = country;
    this.tz = this.city.timeZone;
    this.lifecycle = rng.weighted(LIFECYCLES, LIFECYCLE_WEIGHTS);
    this.identified = this.lifecycle === 'existing';

    const names = NAMES[country.names];
    this.firstName = rng.pick(names.first);
    this.lastName = rng.pick(names.last);
    this.userId = `user_${rng.hex(16)}`;
    this.email = `${asciiSlug(this.firstName)}.${asciiSlug(this.lastName)}${index + 1}@${rng.pick(EMAIL_DOMAINS)}`;
    this.phone = fictionalPhone(rng, country);
    const age = Math.round(clamp(rng.normal(41, 13), 18, 86));
    const birthYear = new Date(world.start).getUTCFullYear() - age;
    this.birthday = `${birthYear}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
    this.createdAt =
      world.start - Math.round(clamp(rng.around(420, 0.9), 7, 3650) * DAY) - rng.int(0, DAY - 1);

    // interests: one to three, the first dominant
    const interests: Interest[] = [];
    const wanted = rng.weighted([1, 2, 3], [0.45, 0.4, 0.15]);
    for (let k = 0; k < 8 && interests.length < wanted; k++) {
      const interest = world.interests.pick(rng);
      if (!interests.includes(interest)) interests.push(interest);
    }
    this.interests = interests;
    // zero-party data: what they told us they are interested in
    const declared: string[] = [];
    if (rng.chance(0.55)) for (const i of interests) if (rng.chance(0.7)) declared.push(i);
    if (!declared.includes('electric_vehicle') && rng.chance(0.06)) declared.push('electric_vehicle');
    this.interestedIn = declared;
    this.consent = { email: rng.chance(0.82), sms: rng.chance(0.35), push: rng.chance(0.65) };
    this.loyaltyTier = rng.weighted(['none', 'bronze', 'silver', 'gold'], [0.4, 0.3, 0.2, 0.1]);
    this.homeMovedIn =
      interests.includes('home_appliances') && rng.chance(0.45)
        ? new Date(world.start - rng.int(10, 360) * DAY).toISOString().slice(0, 10)
        : undefined;
    this.business =
      this.lifecycle !== 'anonymous' && rng.chance(0.04)
        ? {
            groupId: `org_${rng.hex(10)}`,
            traits: {
              name: `${rng.pick(COMPANY_WORDS.first)} ${rng.pick(COMPANY_WORDS.second)}`,
              industry: rng.pick(COMPANY_WORDS.industries),
              employees: Math.round(rng.around(25, 1.2)) + 1,
              plan: 'business',
            },
          }
        : undefined;

    // devices: one, or two for about a third of those who sign in
    const primary = world.devices.pick(rng);
    this.devices = [this.makeDevice(primary)];
    if (this.lifecycle !== 'anonymous' && rng.chance(0.33)) {
      const second =
        primary.kind === 'desktop_web'
          ? rng.pick(DEVICE_PROFILES.filter((p) => p.kind !== 'desktop_web'))
          : rng.pick(DEVICE_PROFILES.filter((p) => p.kind === 'desktop_web'));
      this.devices.push(this.makeDevice(second));
    }

    // habits
    this.hourTable = rng.weighted(HOUR_TABLES, [0.15, 0.25, 0.3, 0.2, 0.1]);
    this.sessionRate = clamp(rng.around(0.11, 0.65), 0.015, 1.2);
    this.readingHour = rng.weighted(READING_HOURS, READING_HOUR_WEIGHTS) + rng.next() * 0.75;
    this.readingDays = rng.weighted(READING_PATTERNS, READING_PATTERN_WEIGHTS);
    this.openRate = clamp(rng.around(0.28, 0.6), 0.02, 0.92);
    this.clickRate = clamp(rng.around(0.14, 0.6), 0.01, 0.6);
    this.paceFactor = clamp(rng.around(1, 0.25), 0.5, 2);
    this.identifyAtSession = 1 + rng.poisson(1.3);
    this.maxSessions = this.lifecycle === 'anonymous' ? 1 + rng.poisson(1.6) : Number.POSITIVE_INFINITY;
    const lastDay = world.lastDay;
    this.firstDay = this.lifecycle === 'existing' ? -1 : rng.int(0, Math.max(0, lastDay - 1));
    this.lastActiveDay =
      this.lifecycle === 'anonymous'
        ? this.firstDay + Math.round(rng.around(6, 0.9))
        : this.firstDay + Math.round(rng.exponential(240));
    this.runner = interests.includes('running') && rng.chance(0.75) ? this.makeRunner() : undefined;
    this.cartId = `cart_${rng.hex(12)}`;

    // repurchase cycles already under way when the period starts
    if (this.lifecycle === 'existing') {
      const consumables = interests.flatMap((i) => PRODUCTS_BY_INTEREST[i].filter((p) => p.repurchaseDays));
      for (const product of rng.sample(consumables, rng.int(0, 2))) {
        const interval = (product.repurchaseDays ?? 30) * this.paceFactor;
        this.scheduleReplenish(product, world.start + rng.next() * interval * DAY);
      }
    }

    this.schedule(world.dayStart(this.tz, this.firstDay), () => this.planDay(this.firstDay));
  }

  /** Updates nextTs to the time of the next pending item; false when this customer's story is over. */
  refresh(): boolean {
    const top = this.queue[0];
    if (top === undefined) return false;
    this.nextTs = top.ts;
    return true;
  }

  /**
   * Handles the next pending item: returns it if it is a message, or runs it if it is an action (which
   * schedules more items, never earlier than itself) and returns undefined.
   */
  step(): SimulatedMessage | undefined {
    const item = popItem(this.queue);
    if (item === undefined) return undefined;
    if (item.msg !== null) return item.msg;
    this.now = item.ts;
    item.act?.();
    return undefined;
  }

  /* ---------------------------------------------------------------------------------------------- */
  /* scheduling                                                                                      */

  private schedule(ts: number, act: () => void): void {
    if (ts >= this.world.end) return;
    pushItem(this.queue, { ts: Math.max(ts, this.now), seq: this.seq++, msg: null, act });
  }

  /** Schedules customer activity: nothing happens before the period starts or after it ends. */
  private activity(ts: number, act: () => void): void {
    if (ts < this.world.start) return;
    this.schedule(ts, act);
  }

  private emit(
    ts: number,
    type: MessageType,
    device: Device | null,
    fields: Partial<SimulatedMessage>,
    context: SimulatedContext,
  ): void {
    const at = Math.floor(Math.max(ts, this.now));
    if (at >= this.world.end || at < this.world.start) return;
    // built field by field so every message lists its keys in the same order
    const msg = { type, messageId: this.rng.uuid(), timestamp: iso(at) } as SimulatedMessage;
    if (device === null || device.loggedIn) msg.userId = this.userId;
    if (device !== null) msg.anonymousId = device.anonymousId;
    Object.assign(msg, fields);
    msg.context = context;
    pushItem(this.queue, { ts: at, seq: this.seq++, msg, act: null });
  }

  /** A track call from the back office (orders, tickets, e-mail provider, fitness app integration). */
  private server(ts: number, event: string, properties: JsonObject): void {
    this.emit(ts, 'track', null, { event, properties }, serverContext());
  }

  /** A message from one of the customer's browsers or apps. */
  emitClient(
    ts: number,
    type: MessageType,
    device: Device,
    fields: Partial<SimulatedMessage>,
    page?: PageContext,
    campaign?: CampaignContext,
  ): void {
    this.emit(ts, type, device, fields, this.clientContext(device, page, campaign));
  }

  private clientContext(device: Device, page?: PageContext, campaign?: CampaignContext): SimulatedContext {
    const p = device.profile;
    const context: SimulatedContext = {
      channel: device.app ? 'mobile' : 'browser',
      library: { ...p.library },
      ip: device.ip,
      userAgent: p.userAgent,
      locale: this.city.locale,
      timezone: this.tz,
    };
    if (device.app) {
      context.app = { ...SHOP.app };
      context.device = { id: device.deviceId, ...p.device };
    }
    context.os = { ...p.os };
    if (page) context.page = { ...page };
    if (campaign) context.campaign = { ...campaign };
    return context;
  }

  private makeDevice(profile: DeviceProfile): Device {
    const rng = this.rng;
    const app = profile.kind === 'ios_app' || profile.kind === 'android_app';
    return {
      profile,
      app,
      anonymousId: rng.uuid(),
      deviceId: app ? rng.uuid(true) : '',
      ip: `${rng.pick(this.country.ipOctets)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
      loggedIn: false,
    };
  }

  private makeRunner(): Runner {
    const rng = this.rng;
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

  /** A random instant at `hour` (fractional, local) on local day d. */
  private localTime(d: number, hour: number): number {
    const start = this.world.dayStart(this.tz, d);
    const next = this.world.dayStart(this.tz, d + 1);
    return clamp(Math.floor(start + hour * HOUR), start, next - 1);
  }

  /** One of the customer's interests, the first one most often. */
  private pickInterest(): Interest {
    const interests = this.interests;
    const r = this.rng.next();
    return (interests[r < 0.62 ? 0 : r < 0.9 || interests.length < 3 ? 1 : 2] ?? interests[0]) as Interest;
  }

  private activeHour(): number {
    return this.hourTable.pick(this.rng) + this.rng.next();
  }

  private emailable(ts: number): boolean {
    return this.identified && this.consent.email && ts < this.unsubscribedAt;
  }

  private appDevice(): Device | undefined {
    return this.devices.find((d) => d.app);
  }

  private pickDevice(): Device {
    const devices = this.devices;
    if (devices.length === 1) return devices[0] as Device;
    return this.rng.chance(0.62) ? (devices[0] as Device) : (devices[1] as Device);
  }

  /* ---------------------------------------------------------------------------------------------- */
  /* the day plan                                                                                    */

  private planDay(d: number): void {
    const world = this.world;
    const rng = this.rng;
    const over = this.lifecycle === 'anonymous' && d > this.lastActiveDay;
    if (d + 1 <= world.lastDay && !over)
      this.schedule(world.dayStart(this.tz, d + 1), () => this.planDay(d + 1));
    const weekday = world.weekday(d);

    // browsing sessions
    if (d <= this.lastActiveDay && this.sessions < this.maxSessions) {
      let n = rng.poisson(this.sessionRate * (WEEKDAY_WEIGHTS[weekday] ?? 1));
      if (d === this.firstDay && this.lifecycle !== 'existing') n = Math.max(1, n);
      for (let k = 0; k < n; k++) {
        const ts = this.localTime(d, this.activeHour());
        this.activity(ts, () => this.session(this.pickDevice(), { buy: 0 }));
      }
    }

    // runs, synced from a fitness app once the customer has connected it (needs an account)
    const runner = this.runner;
    if (runner && this.identified) {
      const longRunDay = weekday === 0 || weekday === 6;
      if (rng.chance((runner.runsPerWeek / 7) * (longRunDay ? 1.3 : 0.9))) {
        const hour = rng.chance(0.55) ? rng.float(5.5, 8.5) : rng.float(17, 20.5);
        const ts = this.localTime(d, hour);
        const miles = clamp(rng.around(runner.milesPerRun * (longRunDay ? 1.5 : 1), 0.3), 1, 26.2);
        this.activity(ts, () => this.workout(miles, rng.float(8, 11.5)));
      }
    }

    // e-mail: weekly newsletter on Tuesday (sent at 08:00 local), promotion blast on Friday (15:00 UTC)
    if (this.identified) {
      if (weekday === 2) {
        const ts = this.localTime(d, 8 + rng.next() * 0.5);
        this.activity(ts, () => this.marketingEmail('newsletter', d));
      }
      const dayStart = world.dayStart(this.tz, d);
      const dayEnd = world.dayStart(this.tz, d + 1);
      for (let u = d - 1; u <= d + 1; u++) {
        const blast = world.base + u * DAY + 15 * HOUR;
        if (world.weekday(u) === 5 && blast >= dayStart && blast < dayEnd) {
          const ts = blast + rng.int(0, 90 * MINUTE);
          this.activity(ts, () => this.marketingEmail('promotion', u));
        }
      }
    }

    // app push campaign on Thursday evening
    const app = this.appDevice();
    if (app && weekday === 4) {
      const ts = this.localTime(d, 18 + rng.next() * 0.4);
      this.activity(ts, () => this.pushCampaign(app, rng.pick(this.interests)));
    }

    // store visits, seen by the beacons in our stores through the app
    if (app && this.city.stores.length > 0 && d <= this.lastActiveDay) {
      if (rng.chance(weekday === 6 ? 0.03 : 0.012)) {
        const ts = this.localTime(d, rng.float(10, 19));
        this.activity(ts, () => this.storeVisit(app));
      }
    }

    // support contacts out of the blue
    if (this.identified && rng.chance(0.0012)) {
      const ts = this.localTime(d, rng.float(8, 21));
      this.activity(ts, () => this.openTicket());
    }

    // zero-party data: updates their preferences now and then
    if (this.identified && rng.chance(0.0008)) {
      const ts = this.localTime(d, this.activeHour());
      this.activity(ts, () => this.updatePreferences());
    }
  }

  /* ---------------------------------------------------------------------------------------------- */
  /* sessions on the web and in the app                                                              */

  private session(device: Device, intent: Intent): void {
    const rng = this.rng;
    this.sessions++;
    const s = new Session(this, device, this.now, intent.landing ?? this.pickLanding(device, intent));
    const interest = intent.interest ?? this.pickInterest();

    if (device.app)
      s.track('Application Opened', { from_background: rng.chance(0.6), version: SHOP.app.version });

    // landing page
    const firstProduct = intent.products?.[0];
    if (firstProduct && s.landing.kind !== 'direct') s.viewProduct(firstProduct);
    else if (s.landing.kind === 'direct' || s.landing.kind === 'push') s.view('Home', '/', SHOP.siteName);
    else if (rng.chance(0.6)) s.viewCategory(interest);
    else s.viewProduct(rng.pick(PRODUCTS_BY_INTEREST[interest]));

    // signing in
    let wantsLogin = false;
    if (!device.loggedIn && this.lifecycle !== 'anonymous') {
      if (this.identified) wantsLogin = rng.chance(0.85);
      else wantsLogin = this.sessions >= this.identifyAtSession && rng.chance(0.7);
    }
    if (wantsLogin) this.signIn(s);

    // browsing
    const intended = intent.products ?? [];
    let views = intended.length > 0 ? 1 + rng.poisson(0.8) : 1 + rng.poisson(2.2);
    if (views > 14) views = 14;
    for (let v = 0; v < views; v++) {
      let product: Product;
      if (v < intended.length) product = intended[v] as Product;
      else {
        const browseInterest = rng.chance(0.85) ? interest : this.world.interests.pick(rng);
        if (rng.chance(0.22)) {
          s.search(rng.pick(SEARCH_QUERIES[browseInterest]), browseInterest);
        } else if (rng.chance(0.3)) s.viewCategory(browseInterest);
        product = rng.pick(PRODUCTS_BY_INTEREST[browseInterest]);
      }
      if (!(v === 0 && firstProduct === product && s.landing.kind !== 'direct')) s.viewProduct(product);
      const isIntended = intended.includes(product);
      if (!isIntended && rng.chance(product.bigTicket ? 0.3 : 0.035)) this.addToWishlist(s, product);
      const addChance = isIntended ? intent.buy : product.bigTicket ? 0.04 : 0.11;
      if (rng.chance(addChance) && !this.cart.some((l) => l.product === product)) {
        const quantity =
          product.repurchaseDays && !product.bigTicket ? rng.weighted([1, 2, 3], [0.7, 0.2, 0.1]) : 1;
        this.cart.push({ product, quantity });
        s.track('Product Added', { cart_id: this.cartId, ...this.productProps(product), quantity });
      }
    }
    if (this.cart.length > 1 && rng.chance(0.1)) {
      const removed = this.cart.pop() as CartLine;
      s.track('Product Removed', {
        cart_id: this.cartId,
        ...this.productProps(removed.product),
        quantity: removed.quantity,
      });
    }

    if (this.identified && device.loggedIn && !intent.products && rng.chance(0.02)) this.updatePreferences(s);

    // cart and checkout
    if (this.cart.length === 0) return;
    const checkout = intent.products ? intent.buy : 0.4;
    if (!rng.chance(checkout)) return;
    s.view('Cart', '/cart', 'Your cart');
    s.track('Cart Viewed', { cart_id: this.cartId, products: this.lines(this.cart) });
    if (!rng.chance(0.75)) return;
    s.view('Checkout', '/checkout', 'Checkout');
    const orderId = `ord_${rng.hex(16)}`;
    const totals = this.totals(this.cart, intent.coupon);
    s.track('Checkout Started', {
      order_id: orderId,
      value: totals.subtotal,
      revenue: totals.revenue,
      currency: this.country.currency,
      products: this.lines(this.cart),
    });
    if (!device.loggedIn) {
      // checking out needs an account; visitors who never sign up abandon here
      if (this.lifecycle === 'anonymous') return;
      this.signIn(s);
    }
    if (!rng.chance(0.82)) {
      this.cartAbandoned(s.t);
      return;
    }
    s.track('Payment Info Entered', {
      checkout_id: orderId,
      order_id: orderId,
      payment_method: rng.weighted(
        ['card', 'paypal', 'apple_pay', 'google_pay', 'klarna'],
        [6, 2, 1.5, 1, 0.5],
      ),
    });
    s.step(20 * SECOND);
    const lines = this.cart;
    this.cart = [];
    this.cartId = `cart_${rng.hex(12)}`;
    this.completeOrder(s, orderId, lines, totals, intent.coupon);
  }

  private pickLanding(device: Device, intent: Intent): Landing {
    const rng = this.rng;
    if (device.app) return { kind: 'direct', referrer: '' };
    const source = this.world.traffic.pick(rng);
    const landing: Landing = { kind: source.kind, referrer: source.referrer };
    if (source.utm) {
      const interest = intent.interest ?? this.pickInterest();
      landing.campaign = {
        source: source.utm.source,
        medium: source.utm.medium,
        name: rng.pick(PAID_CAMPAIGNS[interest]),
      };
    }
    return landing;
  }

  /** Sign-up (first identify of a prospect) or sign-in on a device not yet known. */
  private signIn(s: Session): void {
    const rng = this.rng;
    const device = s.device;
    const firstTime = !this.identified;
    if (firstTime) {
      s.view('Sign Up', '/account/signup', 'Create your account');
      this.identified = true;
      this.createdAt = s.t + 30 * SECOND;
    } else {
      s.view('Sign In', '/account/login', 'Sign in');
    }
    s.step(30 * SECOND);
    device.loggedIn = true;
    s.identify(this.traits(s.t));
    if (firstTime && rng.chance(0.12)) s.alias();
    if (this.business && !this.groupSent) {
      this.groupSent = true;
      s.group(this.business.groupId, this.business.traits);
    }
  }

  private traits(ts: number): JsonObject {
    const traits: JsonObject = {
      email: this.email,
      first_name: this.firstName,
      last_name: this.lastName,
      phone: this.phone,
      birthday: this.birthday,
      created_at: iso(this.createdAt),
      city: this.city.name,
      country: this.country.code,
      timezone: this.tz,
      locale: this.city.locale,
      currency: this.country.currency,
      interested_in: [...this.interestedIn],
      email_opt_in: this.consent.email && ts < this.unsubscribedAt,
      sms_opt_in: this.consent.sms,
      push_opt_in: this.consent.push,
      loyalty_tier: this.loyaltyTier,
    };
    if (this.city.region) traits.state = this.city.region;
    if (this.homeMovedIn) traits.home_moved_in_at = this.homeMovedIn;
    return traits;
  }

  private updatePreferences(s?: Session): void {
    const rng = this.rng;
    const candidates = INTERESTS.filter((i) => !this.interestedIn.includes(i));
    const added = rng.chance(0.35) ? 'electric_vehicle' : rng.pick(this.interests);
    const next = this.interestedIn.filter(() => rng.chance(0.85));
    if (!next.includes(added)) next.push(added);
    else if (candidates.length > 0) next.push(rng.pick(candidates));
    this.interestedIn = next;
    const traits: JsonObject = { interested_in: [...next], email_opt_in: this.emailable(this.now) };
    if (s) {
      s.view('Preferences', '/account/preferences', 'Your preferences');
      s.step(40 * SECOND);
      s.identify(traits);
    } else {
      const device = this.devices.find((d) => d.loggedIn);
      if (!device) return;
      const t = this.now;
      this.emit(t, 'identify', device, { traits }, this.clientContext(device));
    }
  }

  private addToWishlist(s: Session, product: Product): void {
    if (this.wishlist.includes(product)) return;
    this.wishlist.push(product);
    s.track('Product Added to Wishlist', {
      wishlist_id: `wl_${this.userId.slice(5, 13)}`,
      ...this.productProps(product),
    });
    // a big-ticket wish often leads to a look at it in a store (seen by the beacon, via the app)
    const app = this.appDevice();
    if (
      product.bigTicket &&
      app &&
      !this.storeVisitPlanned &&
      this.city.stores.length > 0 &&
      this.rng.chance(0.65)
    ) {
      this.storeVisitPlanned = true;
      const d = this.world.localDay(this.tz, s.t) + this.rng.int(1, 10);
      const ts = this.localTime(d, this.rng.float(10, 19));
      this.activity(ts, () => this.storeVisit(app));
    }
  }

  /* ---------------------------------------------------------------------------------------------- */
  /* orders and fulfilment                                                                           */

  productProps(product: Product): JsonObject {
    const props: JsonObject = {
      product_id: product.productId,
      sku: product.sku,
      name: product.name,
      category: product.category,
      brand: product.brand,
      price: this.world.price(product, this.country),
      currency: this.country.currency,
      url: `${SHOP.origin}/p/${product.sku.toLowerCase()}`,
    };
    if (product.variant) props.variant = product.variant;
    return props;
  }

  private lines(cart: readonly CartLine[]): ProductLine[] {
    return cart.map(({ product, quantity }) => ({
      product_id: product.productId,
      sku: product.sku,
      name: product.name,
      category: product.category,
      brand: product.brand,
      price: this.world.price(product, this.country),
      quantity,
    }));
  }

  private totals(cart: readonly CartLine[], coupon: string | undefined): Totals {
    const c = this.country;
    let subtotal = 0;
    let bigTicket = false;
    for (const line of cart) {
      subtotal += this.world.price(line.product, c) * line.quantity;
      if (line.product.bigTicket) bigTicket = true;
    }
    subtotal = money(subtotal, c.decimals);
    const discount = coupon ? money(subtotal * 0.1, c.decimals) : 0;
    const revenue = money(subtotal - discount, c.decimals);
    const shipping = bigTicket || subtotal >= 50 * c.usdRate ? 0 : money(localPrice(4.99, c), c.decimals);
    const tax = money(revenue * c.taxRate, c.decimals);
    const total = money(revenue + shipping + tax, c.decimals);
    return { subtotal, discount, revenue, shipping, tax, total };
  }

  private completeOrder(
    s: Session,
    orderId: string,
    cart: readonly CartLine[],
    totals: Totals,
    coupon: string | undefined,
  ): void {
    const rng = this.rng;
    const currency = this.country.currency;
    const properties: JsonObject = {
      checkout_id: orderId,
      order_id: orderId,
      affiliation: s.device.app ? 'App' : 'Online Store',
      subtotal: totals.subtotal,
      total: totals.total,
      revenue: totals.revenue,
      shipping: totals.shipping,
      tax: totals.tax,
      discount: totals.discount,
      currency,
      products: this.lines(cart),
    };
    if (coupon) properties.coupon = coupon;
    s.track('Order Completed', properties);
    s.view('Order Confirmation', '/checkout/confirmation', 'Thank you for your order');
    const ordered = s.t;
    for (const line of cart) {
      const wished = this.wishlist.indexOf(line.product);
      if (wished >= 0) this.wishlist.splice(wished, 1);
    }
    if (this.wishlist.length === 0) this.storeVisitPlanned = false;
    this.transactionalEmail(
      ordered + rng.int(20, 90) * SECOND,
      'order_confirmation',
      `Your order ${orderId}`,
    );

    // cancelled before it ships
    if (rng.chance(0.04)) {
      this.server(ordered + rng.around(5 * HOUR, 0.8), 'Order Cancelled', {
        order_id: orderId,
        total: totals.total,
        currency,
        reason: rng.pick(['changed_mind', 'found_cheaper', 'payment_failed', 'out_of_stock']),
      });
      return;
    }

    const bigTicket = cart.some((l) => l.product.bigTicket);
    const carrier = bigTicket ? 'Appliance Delivery Team' : rng.pick(CARRIERS);
    const tracking = rng.hex(12).toUpperCase();
    const shipped = ordered + clamp(rng.around(bigTicket ? 2.5 * DAY : 1.1 * DAY, 0.5), 2 * HOUR, 8 * DAY);
    const transitDays = bigTicket ? rng.int(2, 9) : rng.int(1, 5);
    const deliveryDay = this.world.localDay(this.tz, shipped) + transitDays;
    const delivered = Math.max(shipped + 3 * HOUR, this.localTime(deliveryDay, rng.float(8.5, 19.5)));
    const deliveredLines = () =>
      cart.map(({ product, quantity }) => ({
        product_id: product.productId,
        sku: product.sku,
        name: product.name,
        quantity,
      }));
    this.server(shipped, 'Order Shipped', {
      order_id: orderId,
      carrier,
      tracking_number: tracking,
      shipping_method: bigTicket ? 'appointment' : rng.pick(['standard', 'standard', 'express']),
      products: deliveredLines(),
    });
    this.server(delivered, 'Order Delivered', {
      order_id: orderId,
      carrier,
      tracking_number: tracking,
      products: deliveredLines(),
    });

    // after delivery: refunds, problems, reviews, and the next purchase of consumables
    const refunded = rng.chance(0.03);
    const refundAt = delivered + clamp(rng.around(6 * DAY, 0.6), DAY, 30 * DAY);
    if (refunded) {
      this.server(refundAt, 'Order Refunded', {
        order_id: orderId,
        total: totals.total,
        currency,
        reason: rng.pick(['damaged', 'not_as_described', 'wrong_item', 'no_longer_needed']),
      });
    }
    if (rng.chance(refunded ? 0.4 : 0.045)) {
      const at = delivered + clamp(rng.around(10 * HOUR, 0.8), 20 * MINUTE, 4 * DAY);
      this.activity(at, () =>
        this.openTicket(rng.chance(bigTicket ? 0.3 : 0.12) ? 'critical' : undefined, orderId, rng.int(0, 3)),
      );
    }
    if (rng.chance(refunded ? 0.3 : 0.28)) {
      const line = rng.pick(cart);
      const at = delivered + clamp(rng.around(5 * DAY, 0.6), 6 * HOUR, 40 * DAY);
      const device = s.device;
      this.activity(Math.min(at, refunded ? refundAt - MINUTE : at), () =>
        this.review(device, orderId, line.product, refunded),
      );
    }
    for (const line of cart) {
      if (line.product.replaceAfterMiles && this.runner) {
        const runner = this.runner;
        runner.shoe = line.product;
        runner.shoeMiles = 0;
        runner.replaceAfter = (line.product.replaceAfterMiles ?? 400) * clamp(rng.around(1, 0.12), 0.7, 1.4);
      }
      const days = line.product.repurchaseDays;
      if (days && rng.chance(0.8)) {
        const interval = days * this.paceFactor * clamp(rng.around(1, 0.15), 0.6, 1.6) * line.quantity ** 0.8;
        this.scheduleReplenish(line.product, delivered + interval * DAY);
      }
    }
  }

  private scheduleReplenish(product: Product, due: number): void {
    if (due >= this.world.end || this.replenishing.includes(product)) return;
    this.replenishing.push(product);
    const d = this.world.localDay(this.tz, due);
    const ts = this.localTime(d, this.activeHour());
    this.activity(ts, () => {
      this.replenishing = this.replenishing.filter((p) => p !== product);
      // some come back on their own, some after a reminder; a few have gone elsewhere
      if (this.lifecycle === 'anonymous' || !this.rng.chance(0.85)) return;
      const healthier = product.healthierSwap && this.rng.chance(0.1);
      const products = healthier ? PRODUCTS.filter((p) => p.sku === product.healthierSwap) : [product];
      this.session(this.pickDevice(), { products, interest: product.interest, buy: 0.8 });
    });
  }

  private review(device: Device, orderId: string, product: Product, unhappy: boolean): void {
    const rng = this.rng;
    const s = new Session(this, device, this.now, { kind: 'direct', referrer: '' });
    s.view('Write a Review', `/account/orders/${orderId}/review`, 'Write a review');
    s.step(90 * SECOND);
    const rating = unhappy
      ? rng.weighted([1, 2, 3] as const, [0.6, 0.3, 0.1])
      : rng.weighted([1, 2, 3, 4, 5] as const, [0.04, 0.05, 0.11, 0.33, 0.47]);
    s.track('Product Reviewed', {
      product_id: product.productId,
      sku: product.sku,
      name: product.name,
      order_id: orderId,
      review_id: `rev_${rng.hex(12)}`,
      review_body: rng.pick(REVIEW_TEXTS[rating]),
      rating,
    });
  }

  private cartAbandoned(ts: number): void {
    if (!this.emailable(ts)) return;
    const products = this.cart.map((l) => l.product);
    const at = ts + clamp(this.rng.around(20 * HOUR, 0.3), 2 * HOUR, 3 * DAY);
    this.activity(at, () => {
      if (this.cart.length === 0) return;
      this.sendEmail(
        this.now,
        'cart_abandonment',
        'You left something in your cart',
        'transactional',
        products,
      );
    });
  }

  /* ---------------------------------------------------------------------------------------------- */
  /* e-mail and push                                                                                 */

  private marketingEmail(kind: 'newsletter' | 'promotion', d: number): void {
    const date = this.world.date(d);
    if (kind === 'newsletter') {
      this.sendEmail(this.now, `newsletter_${date}`, 'This week at Example Shop', 'marketing');
    } else {
      // batch and blast: everybody gets the promotion of their main interest, relevant or not
      const interest = this.rng.chance(0.7)
        ? (this.interests[0] as Interest)
        : this.world.interests.pick(this.rng);
      const category = CATEGORIES.find((c) => c.interest === interest);
      const products = this.rng.sample(PRODUCTS_BY_INTEREST[interest], 2);
      this.sendEmail(
        this.now,
        `${interest}_promo_${date}`,
        `This weekend only: ${category?.name ?? 'our bestsellers'} from ${this.currencyText(9.99)}`,
        'marketing',
        products,
        interest,
      );
    }
  }

  private currencyText(usd: number): string {
    return `${localPrice(usd, this.country)} ${this.country.currency}`;
  }

  private transactionalEmail(ts: number, campaign: string, subject: string): void {
    if (!this.identified) return;
    this.schedule(ts, () => this.sendEmail(this.now, campaign, subject, 'transactional'));
  }

  private sendEmail(
    ts: number,
    campaign: string,
    subject: string,
    kind: 'marketing' | 'transactional',
    products?: readonly Product[],
    interest?: Interest,
  ): void {
    if (kind === 'marketing' ? !this.emailable(ts) : !this.identified) return;
    const rng = this.rng;
    const emailId = `em_${rng.hex(16)}`;
    const props: JsonObject = {
      email_id: emailId,
      email_subject: subject,
      campaign_id: `cmp_${campaign}`,
      campaign_name: campaign,
    };
    this.server(ts, 'Email Delivered', { ...props });
    const openChance = kind === 'transactional' ? Math.min(0.95, this.openRate + 0.35) : this.openRate;
    if (!rng.chance(openChance)) return;
    const opened = rng.chance(kind === 'transactional' ? 0.5 : 0.12)
      ? ts + clamp(rng.around(8 * MINUTE, 1), 20 * SECOND, 4 * HOUR)
      : this.readingSlot(ts);
    if (opened === undefined) return;
    this.server(opened, 'Email Opened', { ...props });
    if (kind === 'marketing' && rng.chance(0.012)) {
      const at = opened + rng.int(20, 120) * SECOND;
      this.unsubscribedAt = at;
      this.server(at, 'Unsubscribed', { ...props, channel: 'email', list: 'marketing' });
      const traits: JsonObject = { email_opt_in: false, unsubscribed_at: iso(at) };
      this.emit(at + SECOND, 'identify', null, { traits }, serverContext());
      return;
    }
    if (!rng.chance(this.clickRate)) return;
    const clicked = opened + clamp(rng.around(45 * SECOND, 0.7), 3 * SECOND, 10 * MINUTE);
    const target = products?.[0];
    const linkUrl = target
      ? `${SHOP.origin}/p/${target.sku.toLowerCase()}`
      : `${SHOP.origin}/?utm_source=newsletter&utm_medium=email&utm_campaign=${campaign}`;
    this.server(clicked, 'Email Link Clicked', { ...props, link_url: linkUrl, link_id: `lnk_${rng.hex(6)}` });
    const landing: Landing = {
      kind: 'email',
      referrer: '',
      campaign: { source: 'newsletter', medium: 'email', name: campaign },
    };
    const buy = campaign === 'cart_abandonment' ? 0.6 : 0.3;
    const intent: Intent = { buy, landing, coupon: rng.chance(0.4) ? 'EMAIL10' : undefined };
    if (products) intent.products = products;
    if (interest) intent.interest = interest;
    else if (target) intent.interest = target.interest;
    const device = this.devices.find((d) => !d.app) ?? this.pickDevice();
    this.schedule(clicked + rng.int(2, 8) * SECOND, () => this.session(device, intent));
  }

  /** When this customer next reads e-mail after `after`: their own hour, on their own kind of day. */
  private readingSlot(after: number): number | undefined {
    const rng = this.rng;
    let d = this.world.localDay(this.tz, after);
    for (let k = 0; k < 10; k++, d++) {
      if (!rng.chance(this.readingDays[this.world.weekday(d)] ?? 0)) continue;
      const ts = this.localTime(d, this.readingHour + rng.normal(0, 0.3));
      if (ts > after + 2 * MINUTE) return ts;
    }
    return undefined;
  }

  private pushCampaign(app: Device, interest: Interest): void {
    if (!app.loggedIn || !this.consent.push) return;
    const rng = this.rng;
    const products = rng.sample(PRODUCTS_BY_INTEREST[interest], 1);
    const name = `${interest}_push_${this.world.date(this.world.localDay(this.tz, this.now))}`;
    const title = `New in ${CATEGORIES.find((c) => c.interest === interest)?.name ?? 'store'}`;
    this.push(app, name, title, products, 0.07, 0.25);
  }

  private push(
    app: Device,
    name: string,
    content: string,
    products: readonly Product[],
    tapRate: number,
    buy: number,
  ): void {
    const rng = this.rng;
    const campaign: CampaignContext = { source: 'example_shop', medium: 'push', name, content };
    const props = (): JsonObject => ({
      campaign: { ...campaign },
      product_ids: products.map((p) => p.productId),
    });
    this.emit(
      this.now,
      'track',
      app,
      { event: 'Push Notification Received', properties: props() },
      this.clientContext(app),
    );
    if (!rng.chance(tapRate)) return;
    const tapped = this.now + clamp(rng.around(6 * MINUTE, 1.2), 5 * SECOND, 6 * HOUR);
    this.emit(
      tapped,
      'track',
      app,
      { event: 'Push Notification Tapped', properties: { ...props(), action_identifier: 'open' } },
      this.clientContext(app, undefined, campaign),
    );
    const intent: Intent = { buy, products, landing: { kind: 'push', referrer: '', campaign } };
    const first = products[0];
    if (first) intent.interest = first.interest;
    this.schedule(tapped + rng.int(1, 4) * SECOND, () => this.session(app, intent));
  }

  /* ---------------------------------------------------------------------------------------------- */
  /* stores, workouts and tickets                                                                    */

  private storeVisit(app: Device): void {
    const rng = this.rng;
    const store = rng.pick(this.city.stores);
    const dwell = Math.round(clamp(rng.around(22, 0.6), 3, 120));
    this.emit(
      this.now,
      'track',
      app,
      {
        event: 'Store Visited',
        properties: {
          store_id: store.storeId,
          store_name: store.name,
          beacon_id: store.beaconId,
          city: this.city.name,
          country: this.country.code,
          dwell_minutes: dwell,
        },
      },
      this.clientContext(app),
    );
    // the wish list's items are in this store: the app offers them (the "washer and dryer" story)
    const wished = this.wishlist.filter((p) => p.bigTicket || rng.chance(0.3));
    this.storeVisitPlanned = false;
    if (wished.length > 0 && app.loggedIn && this.consent.push) {
      const at = this.now + (dwell + rng.int(5, 90)) * MINUTE;
      const products = wished.slice(0, 2);
      this.schedule(at, () => {
        this.push(
          app,
          'wishlist_in_store_offer',
          `${products[0]?.name ?? 'Your wish list'}: 10% off today`,
          products,
          0.45,
          0.6,
        );
      });
    }
  }

  private workout(miles: number, minutesPerMile: number): void {
    const runner = this.runner;
    if (!runner) return;
    const rng = this.rng;
    const distance = Math.round(miles * 100) / 100;
    runner.shoeMiles += distance;
    this.server(this.now, 'Workout Logged', {
      workout_id: `wo_${rng.hex(12)}`,
      activity: 'run',
      distance_miles: distance,
      duration_minutes: Math.round(distance * minutesPerMile * 10) / 10,
      shoe_sku: runner.shoe.sku,
      shoe_miles: Math.round(runner.shoeMiles),
      source: 'fitness_app',
    });
    // worn-out shoes: they come looking for a new pair (not on a fixed calendar)
    if (runner.shoeMiles >= runner.replaceAfter && this.now >= runner.nextNudge) {
      runner.nextNudge = this.now + 10 * DAY;
      const d = this.world.localDay(this.tz, this.now) + rng.int(0, 6);
      const ts = Math.max(this.now + HOUR, this.localTime(d, this.activeHour()));
      const same = rng.chance(0.65);
      const shoe = same
        ? runner.shoe
        : rng.pick(PRODUCTS_BY_INTEREST.running.filter((p) => p.replaceAfterMiles));
      this.activity(ts, () =>
        this.session(this.pickDevice(), { products: [shoe], interest: 'running', buy: 0.75 }),
      );
    }
  }

  private openTicket(priority?: TicketPriority, orderId?: string, subjectIndex?: number): void {
    const rng = this.rng;
    const level = priority ?? rng.weighted(TICKET_PRIORITIES, PRIORITY_WEIGHTS);
    const ticketId = `tkt_${rng.hex(10)}`;
    const subject =
      subjectIndex !== undefined
        ? (TICKET_SUBJECTS[subjectIndex] ?? 'Order issue')
        : rng.pick(TICKET_SUBJECTS);
    const props: JsonObject = {
      ticket_id: ticketId,
      priority: level,
      subject,
      channel: rng.weighted(['email', 'chat', 'phone'], [0.45, 0.35, 0.2]),
    };
    if (orderId) props.order_id = orderId;
    this.server(this.now, 'Ticket Opened', props);
    const hours = clamp(rng.around(RESOLUTION_HOURS[level], level === 'critical' ? 0.9 : 0.7), 0.25, 24 * 20);
    this.server(this.now + hours * HOUR, 'Ticket Resolved', {
      ticket_id: ticketId,
      priority: level,
      resolution_hours: Math.round(hours * 10) / 10,
      satisfaction: rng.weighted([1, 2, 3, 4, 5], [0.08, 0.1, 0.17, 0.3, 0.35]),
    });
  }
}

function fictionalPhone(rng: Rng, country: Country): string {
  const digits = (n: number) => {
    let out = '';
    for (let i = 0; i < n; i++) out += String(rng.int(0, 9));
    return out;
  };
  switch (country.code) {
    case 'US':
    case 'CA':
      return `+1${rng.int(201, 989)}55501${digits(2)}`;
    case 'GB':
      return `+447700900${digits(3)}`;
    case 'AU':
      return `+61491570${digits(3)}`;
    default:
      return `${country.phonePrefix}${digits(9)}`;
  }
}

/** One visit: a clock, the current page or screen, and the campaign it arrived with. */
class Session {
  t: number;
  private page: PageContext | undefined;
  private campaign: CampaignContext | undefined;
  private pages = 0;

  constructor(
    private readonly customer: Customer,
    readonly device: Device,
    start: number,
    readonly landing: Landing,
  ) {
    this.t = start;
    this.campaign = landing.campaign;
  }

  /** Moves the clock on by a human pause (median `median` ms). */
  step(median = 25 * SECOND): void {
    const rng = this.customer.rng;
    this.t += Math.floor(clamp(rng.around(median, 0.7), 2 * SECOND, 12 * MINUTE));
  }

  view(name: string, path: string, title: string, query = ''): void {
    if (this.pages > 0) this.step();
    const device = this.device;
    if (this.pages > 0) this.campaign = undefined;
    this.pages++;
    if (device.app) {
      this.customer.emitClient(
        this.t,
        'screen',
        device,
        { name, properties: { path } },
        undefined,
        this.campaign,
      );
      return;
    }
    let search = query;
    const c = this.campaign;
    if (c)
      search = `${search ? `${search}&` : '?'}utm_source=${c.source}&utm_medium=${c.medium}&utm_campaign=${c.name}`;
    const page: PageContext = {
      path,
      referrer: this.page ? this.page.url : this.landing.referrer,
      search,
      title: `${title} | ${SHOP.siteName}`,
      url: `${SHOP.origin}${path}${search}`,
    };
    this.page = page;
    this.customer.emitClient(this.t, 'page', device, { name, properties: { ...page } }, page, c);
  }

  viewCategory(interest: Interest): void {
    const category =
      CATEGORIES.find((c) => c.interest === interest) ?? (CATEGORIES[0] as (typeof CATEGORIES)[0]);
    this.view('Category', `/c/${category.id}`, category.name);
    this.listViewed(category.id, category.name, PRODUCTS_BY_INTEREST[interest]);
  }

  search(query: string, interest: Interest): void {
    const q = encodeURIComponent(query).replace(/%20/g, '+');
    this.view('Search', '/search', `Search: ${query}`, `?q=${q}`);
    this.step(4 * SECOND);
    this.track('Products Searched', { query });
    this.listViewed(`search:${query}`, 'Search results', PRODUCTS_BY_INTEREST[interest]);
  }

  private listViewed(listId: string, category: string, products: readonly Product[]): void {
    this.step(3 * SECOND);
    this.track('Product List Viewed', {
      list_id: listId,
      category,
      products: products
        .slice(0, 4)
        .map((p, i) => ({ product_id: p.productId, sku: p.sku, position: i + 1 })),
    });
  }

  viewProduct(product: Product): void {
    this.view('Product', `/p/${product.sku.toLowerCase()}`, product.name);
    this.step(5 * SECOND);
    this.track('Product Viewed', this.customer.productProps(product));
  }

  track(event: string, properties: JsonObject): void {
    this.step(6 * SECOND);
    this.customer.emitClient(this.t, 'track', this.device, { event, properties }, this.page, this.campaign);
  }

  identify(traits: JsonObject): void {
    this.customer.emitClient(this.t, 'identify', this.device, { traits }, this.page, this.campaign);
  }

  alias(): void {
    this.step(SECOND);
    this.customer.emitClient(
      this.t,
      'alias',
      this.device,
      { previousId: this.device.anonymousId },
      this.page,
      this.campaign,
    );
  }

  group(groupId: string, traits: JsonObject): void {
    this.step(2 * SECOND);
    this.customer.emitClient(this.t, 'group', this.device, { groupId, traits }, this.page, this.campaign);
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* The merge                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

function customerBefore(a: Customer, b: Customer): boolean {
  return a.nextTs < b.nextTs || (a.nextTs === b.nextTs && a.index < b.index);
}

function validate(options: SimulateOptions): void {
  const { customers, seed, start, days } = options;
  if (!Number.isSafeInteger(customers) || customers < 1) {
    throw new RangeError(`customers must be a positive integer, got ${String(customers)}`);
  }
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${String(seed)}`);
  if (!Number.isSafeInteger(days) || days < 1)
    throw new RangeError(`days must be a positive integer, got ${String(days)}`);
  if (!(start instanceof Date) || Number.isNaN(start.getTime()))
    throw new RangeError('start must be a valid date');
}

/**
 * Generates the messages of `options.customers` synthetic retail customers over `options.days` days
 * from `options.start`, in timestamp order. Lazy: messages are produced as they are consumed, and
 * memory is proportional to the number of customers.
 */
export function* simulate(options: SimulateOptions): Generator<SimulatedMessage, void, undefined> {
  validate(options);
  const world = new World(options);
  // The heap is keyed on each customer's next pending item, action or message. Running the earliest
  // action in the whole population only ever schedules items at or after its own time, so messages
  // still leave in timestamp order, and nobody's session is generated before its time comes.
  const heap: Customer[] = [];
  for (let i = 0; i < options.customers; i++) {
    const customer = new Customer(world, i);
    if (!customer.refresh()) continue;
    let k = heap.length;
    heap.push(customer);
    while (k > 0) {
      const parent = (k - 1) >> 1;
      const p = heap[parent] as Customer;
      if (!customerBefore(customer, p)) break;
      heap[k] = p;
      k = parent;
    }
    heap[k] = customer;
  }
  while (heap.length > 0) {
    const top = heap[0] as Customer;
    const message = top.step();
    let item = top;
    if (!top.refresh()) {
      item = heap.pop() as Customer;
    }
    if (heap.length > 0) {
      // sift down from the root
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        if (r < n && customerBefore(heap[r] as Customer, heap[l] as Customer)) c = r;
        if (!customerBefore(heap[c] as Customer, item)) break;
        heap[i] = heap[c] as Customer;
        i = c;
      }
      heap[i] = item;
    }
    if (message !== undefined) yield message;
  }
}
