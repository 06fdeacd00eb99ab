/**
 * One synthetic customer: who they are, their habits, what has happened to them so far, and their own
 * small discrete-event simulation (a seeded random stream and a priority queue of pending actions and
 * ready messages). The stories they live (visits, orders, e-mail, …) are functions of a customer that
 * schedule more actions and emit messages through it.
 */

import { BinaryHeap } from '../core/binary-heap.ts';
import type { CartLine } from './cart.ts';
import type { City, Country, Interest, Product } from './catalog.ts';
import { COMPANY_WORDS, COUNTRIES, DEVICE_PROFILES, EMAIL_DOMAINS, NAMES } from './catalog.ts';
import { clamp } from './clamp.ts';
import type { Device } from './device.ts';
import { makeDevice } from './device.ts';
import type { Intent } from './intent.ts';
import { clientContext, serverContext } from './message-context.ts';
import { hashSeed, Rng, WeightedTable } from './random.ts';
import type { Runner } from './runner.ts';
import { makeRunner } from './runner.ts';
import type {
  CampaignContext,
  JsonObject,
  MessageType,
  PageContext,
  SimulatedContext,
  SimulatedMessage,
} from './simulated-message.ts';
import { DAY, HOUR, iso } from './time.ts';
import type { World } from './world.ts';

/** Existing customers have an account; prospects may sign up; anonymous visitors never do. */
export type Lifecycle = 'existing' | 'prospect' | 'anonymous';

/**
 * Starts a visit (a session on the web or in the app) of a customer on one of their devices, now.
 * Injected so that the stories which bring a customer back (e-mail, push, replenishment, workouts)
 * need not depend on the visit itself.
 */
export type VisitStarter = (customer: Customer, device: Device, intent: Intent) => void;

/** A pending entry of a customer's queue: a ready message, or an action to run at its time. */
interface Item {
  ts: number;
  seq: number;
  msg: SimulatedMessage | null;
  act: (() => void) | null;
}

function itemBefore(a: Item, b: Item): boolean {
  return a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);
}

const LIFECYCLES: readonly Lifecycle[] = ['existing', 'prospect', 'anonymous'];
const LIFECYCLE_WEIGHTS: readonly number[] = [0.45, 0.35, 0.2];
/** Session start hours (local time): quiet at night, peaks at lunch and in the evening. */
const HOUR_WEIGHTS: readonly number[] = [
  0.5, 0.25, 0.12, 0.08, 0.08, 0.2, 0.6, 1.4, 2.1, 2.5, 2.8, 3, 3.4, 3.2, 2.8, 2.7, 2.8, 3.1, 3.6, 4.4, 4.8,
  4.3, 3.1, 1.5,
];
const HOURS: readonly number[] = Array.from({ length: 24 }, (_, h) => h);
/** Hour tables for early birds (−2) to night owls (+2). */
const HOUR_TABLES: readonly WeightedTable<number>[] = [-2, -1, 0, 1, 2].map(
  (shift) => new WeightedTable(HOURS, (h) => HOUR_WEIGHTS[(h - shift + 24) % 24] ?? 0),
);
const READING_HOURS: readonly number[] = [6, 7, 8, 12, 13, 17, 19, 20, 21, 22];
const READING_HOUR_WEIGHTS: readonly number[] = [0.6, 1.4, 1.3, 1.1, 0.6, 0.5, 0.9, 1.3, 1.3, 0.8];
/** Probability of reading e-mail on a given weekday (Sunday first), by reading pattern. */
const READING_PATTERNS: readonly (readonly number[])[] = [
  [0.25, 0.8, 0.8, 0.8, 0.8, 0.7, 0.25], // weekday reader
  [0.35, 0.05, 0.05, 0.05, 0.05, 0.1, 0.95], // Saturday reader
  [0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6], // every day
];
const READING_PATTERN_WEIGHTS: readonly number[] = [0.5, 0.2, 0.3];

/**
 * A customer and their pending items. Everything about them is drawn in the constructor, from their
 * own random stream; nothing is scheduled until a story does (see `simulate()`).
 */
export class Customer {
  readonly index: number;
  /** Time of the next pending item, message or action (valid after refresh() returned true). */
  nextTs = 0;

  readonly world: World;
  /** The customer's own random stream (shared with their sessions). */
  readonly rng: Rng;
  private readonly queue = new BinaryHeap<Item>(itemBefore);
  private seq = 0;
  private current = 0;
  private readonly startVisit: VisitStarter;

  // who they are
  readonly lifecycle: Lifecycle;
  readonly city: City;
  readonly country: Country;
  readonly tz: string;
  readonly userId: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
  readonly phone: string;
  readonly birthday: string;
  createdAt: number;
  readonly interests: readonly Interest[];
  interestedIn: string[];
  readonly consent: { email: boolean; sms: boolean; push: boolean };
  readonly loyaltyTier: string;
  readonly homeMovedIn: string | undefined;
  readonly business: { groupId: string; traits: JsonObject } | undefined;
  readonly devices: Device[];
  private readonly hourTable: WeightedTable<number>;
  readonly sessionRate: number;
  readonly readingHour: number;
  readonly readingDays: readonly number[];
  readonly openRate: number;
  readonly clickRate: number;
  readonly paceFactor: number;
  readonly firstDay: number;
  readonly lastActiveDay: number;
  readonly identifyAtSession: number;
  readonly maxSessions: number;
  readonly runner: Runner | undefined;

  // what has happened so far
  identified: boolean;
  sessions = 0;
  unsubscribedAt = Number.POSITIVE_INFINITY;
  cart: CartLine[] = [];
  cartId: string;
  wishlist: Product[] = [];
  storeVisitPlanned = false;
  groupSent = false;
  /** Skus with a repurchase already planned (usually none or one or two). */
  replenishing: Product[] = [];

  constructor(world: World, index: number, startVisit: VisitStarter) {
    this.world = world;
    this.index = index;
    this.startVisit = startVisit;
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
    this.devices = [makeDevice(rng, primary, country)];
    if (this.lifecycle !== 'anonymous' && rng.chance(0.33)) {
      const second =
        primary.kind === 'desktop_web'
          ? rng.pick(DEVICE_PROFILES.filter((p) => p.kind !== 'desktop_web'))
          : rng.pick(DEVICE_PROFILES.filter((p) => p.kind === 'desktop_web'));
      this.devices.push(makeDevice(rng, second, country));
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
    this.runner = interests.includes('running') && rng.chance(0.75) ? makeRunner(rng) : undefined;
    this.cartId = `cart_${rng.hex(12)}`;
  }

  /** The time of the action being run (the simulation clock of this customer). */
  get now(): number {
    return this.current;
  }

  /** Updates nextTs to the time of the next pending item; false when this customer's story is over. */
  refresh(): boolean {
    const top = this.queue.peek();
    if (top === undefined) return false;
    this.nextTs = top.ts;
    return true;
  }

  /**
   * Handles the next pending item: returns it if it is a message, or runs it if it is an action (which
   * schedules more items, never earlier than itself) and returns undefined.
   */
  step(): SimulatedMessage | undefined {
    const item = this.queue.pop();
    if (item === undefined) return undefined;
    if (item.msg !== null) return item.msg;
    this.current = item.ts;
    item.act?.();
    return undefined;
  }

  /* ---------------------------------------------------------------------------------------------- */
  /* scheduling and messages                                                                         */

  /** Schedules an action at `ts` (not before now); actions due after the period are dropped. */
  schedule(ts: number, act: () => void): void {
    if (ts >= this.world.end) return;
    this.queue.push({ ts: Math.max(ts, this.current), seq: this.seq++, msg: null, act });
  }

  /** Schedules customer activity: nothing happens before the period starts or after it ends. */
  activity(ts: number, act: () => void): void {
    if (ts < this.world.start) return;
    this.schedule(ts, act);
  }

  /** Starts a visit on one of the customer's devices now. */
  visit(device: Device, intent: Intent): void {
    this.startVisit(this, device, intent);
  }

  /**
   * Queues a message at `ts` (not before now), from a device of the customer or, for `null`, from the
   * back office; messages outside the period are dropped.
   */
  emit(
    ts: number,
    type: MessageType,
    device: Device | null,
    fields: Partial<SimulatedMessage>,
    context: SimulatedContext,
  ): void {
    const at = Math.floor(Math.max(ts, this.current));
    if (at >= this.world.end || at < this.world.start) return;
    // built field by field so every message lists its keys in the same order
    const msg = { type, messageId: this.rng.uuid(), timestamp: iso(at) } as SimulatedMessage;
    if (device === null || device.loggedIn) msg.userId = this.userId;
    if (device !== null) msg.anonymousId = device.anonymousId;
    Object.assign(msg, fields);
    msg.context = context;
    this.queue.push({ ts: at, seq: this.seq++, msg, act: null });
  }

  /** A track call from the back office (orders, tickets, e-mail provider, fitness app integration). */
  server(ts: number, event: string, properties: JsonObject): void {
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
    this.emit(ts, type, device, fields, clientContext(device, this.city, page, campaign));
  }

  /* ---------------------------------------------------------------------------------------------- */
  /* habits                                                                                          */

  /** A random instant at `hour` (fractional, local) on local day d. */
  localTime(d: number, hour: number): number {
    const start = this.world.dayStart(this.tz, d);
    const next = this.world.dayStart(this.tz, d + 1);
    return clamp(Math.floor(start + hour * HOUR), start, next - 1);
  }

  /** One of the customer's interests, the first one most often. */
  pickInterest(): Interest {
    const interests = this.interests;
    const r = this.rng.next();
    return (interests[r < 0.62 ? 0 : r < 0.9 || interests.length < 3 ? 1 : 2] ?? interests[0]) as Interest;
  }

  /** A (fractional) local hour at which the customer is likely to be active. */
  activeHour(): number {
    return this.hourTable.pick(this.rng) + this.rng.next();
  }

  /** Whether the customer may be sent marketing e-mail at `ts`. */
  emailable(ts: number): boolean {
    return this.identified && this.consent.email && ts < this.unsubscribedAt;
  }

  /** The customer's app, if they have it. */
  appDevice(): Device | undefined {
    return this.devices.find((d) => d.app);
  }

  /** The device of a visit: the first one most often. */
  pickDevice(): Device {
    const devices = this.devices;
    if (devices.length === 1) return devices[0] as Device;
    return this.rng.chance(0.62) ? (devices[0] as Device) : (devices[1] as Device);
  }
}

function asciiSlug(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '');
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
