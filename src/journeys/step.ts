/**
 * The journey step function, the pure core of the runtime:
 * `(journey, run state, input, environment) → (state', effects, stats)`.
 *
 * A run moves through nodes until it has to wait (a `wait`, a `wait_for`) or ends. Waiting is the
 * state's `wakeAt`; the shell keeps it in the store as the run's durable timer. Effects are what
 * the shell commits to the outbox in the same transaction as the new state: messages to send and
 * traits to update, each with an id unique to (run, step) so that it is performed at most once.
 * No I/O, no clock: `env.now` is the time, and the profile is read from `env.profile`.
 */
import type { Channel, MessageCategory } from '../channels/outbound.ts';
import type { JsonObject } from '../core/event.ts';
import { hash53 } from '../core/hash53.ts';
import { atTimeOnDayOf, isTimeZone, nextTimeOfDay, zonedInstant } from '../core/zoned-time.ts';
import type { Condition, EventMatcher } from '../segments/definition.ts';
import { asTime, passes, readPath, same } from '../segments/values.ts';
import type { Correlation, DateSource, Journey, JourneyNode } from './definition.ts';

/** The parts of an event a run keeps (the trigger, what a `wait_for` received). */
export interface EventSnapshot {
  readonly name: string;
  readonly timestamp: number;
  readonly messageId: string;
  readonly properties: JsonObject;
}

export type RunStatus = 'scheduled' | 'active' | 'completed' | 'exited' | 'converted';

export interface RunState {
  readonly id: string;
  readonly journey: string;
  readonly version: number;
  readonly profileId: string;
  readonly status: RunStatus;
  /** The node the run waits at (null once it ended). */
  readonly node: string | null;
  /** When the run's timer fires (a wait ends, a wait_for times out, a scheduled entry is due). */
  readonly wakeAt: number | null;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly trigger: EventSnapshot | null;
  /** Nodes executed so far; effect ids are `{run id}:{step}`. */
  readonly steps: number;
  /** What each `wait_for` node received. */
  readonly arrivals: Readonly<Record<string, EventSnapshot>>;
  /** The variant each `split` node chose. */
  readonly variants: Readonly<Record<string, string>>;
  /** Why it ended. */
  readonly reason: string | null;
}

/** The profile as it is now, for branches, updates, date waits and segment exits. */
export interface ProfileNow {
  readonly traits: JsonObject;
  readonly computed: Readonly<Record<string, unknown>>;
  readonly segments: ReadonlySet<string>;
}

export interface StepEnv {
  readonly now: number;
  /** Null when the shell did not load it (journeys for which `needsProfile` is false). */
  readonly profile: ProfileNow | null;
}

export type Effect =
  | {
      readonly kind: 'send';
      readonly id: string;
      readonly node: string;
      readonly channel: Channel;
      readonly template: string;
      readonly category: MessageCategory;
      readonly topic: string | null;
    }
  /**
   * Traits to set, and numbers to add to traits: the sum is taken when the update is performed
   * (after earlier updates of the profile), not when the step decides it.
   */
  | {
      readonly kind: 'update';
      readonly id: string;
      readonly node: string;
      readonly traits: JsonObject;
      readonly increment: Readonly<Record<string, number>>;
    }
  /** Messages of this run not sent yet are not to be sent (the run converted or exited). */
  | { readonly kind: 'cancel_pending' };

/** A change to a journey's counters; `node` null for journey-wide ones. */
export interface StatDelta {
  readonly node: string | null;
  readonly metric: string;
  readonly n: number;
}

export interface Transition {
  readonly state: RunState;
  readonly effects: Effect[];
  readonly stats: StatDelta[];
}

/** Most nodes one activation may pass through; validation refuses cycles with no wait. */
const MAX_NODES_PER_STEP = 1000;

/** Whether steps of this journey read the profile (the shell loads it only then). */
export function needsProfile(j: Journey): boolean {
  if (j.exits.some((x) => x.kind === 'segment')) return true;
  for (const n of j.nodes.values()) {
    if (n.type === 'branch') return true;
    if (n.type === 'wait' && n.until.kind !== 'duration') return true;
  }
  return j.trigger.kind === 'date';
}

export function snapshot(
  name: string,
  timestamp: number,
  messageId: string,
  properties: JsonObject,
): EventSnapshot {
  return { name, timestamp, messageId, properties };
}

/** Matches an event against a matcher's name and property filters. */
export function matchesEvent(m: EventMatcher, ev: EventSnapshot, now: number): boolean {
  if (m.event !== ev.name) return false;
  const body = { properties: ev.properties };
  for (const w of m.where) {
    const v = readPath(body, w.path.parts);
    if (!passes(w.test, v === undefined ? null : v, now)) return false;
  }
  return true;
}

function correlated(cs: readonly Correlation[], ev: EventSnapshot, trigger: EventSnapshot | null): boolean {
  if (cs.length === 0) return true;
  if (trigger === null) return false;
  const a = { properties: ev.properties };
  const t = { properties: trigger.properties };
  for (const c of cs) {
    const want = readPath(t, c.trigger.parts);
    const got = readPath(a, c.arriving.parts);
    if (want === undefined || want === null || typeof want === 'object') return false;
    if (!same(got, want as string | number | boolean)) return false;
  }
  return true;
}

/** Deterministic bucket in [0, 100) for a profile, per journey and purpose. */
export function bucket(salt: string, profileId: string): number {
  return (hash53(`${salt}\u0000${profileId}`) / 2 ** 53) * 100;
}

/** Whether a profile entering the journey is held out as its control group. */
export const inControlGroup = (j: Journey, profileId: string): boolean =>
  j.controlPercent > 0 && bucket(`control:${j.key}`, profileId) < j.controlPercent;

export const timeZoneOf = (traits: JsonObject): string => {
  const tz = traits.timezone ?? traits.time_zone;
  return isTimeZone(tz) ? tz : 'UTC';
};

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * The instant a date source points at, for a profile: the date (a date trait or computed trait)
 * plus the offset, at the time of day in the profile's time zone when given. Yearly dates take the
 * first anniversary at or after `from`. Null when the profile has no such date.
 */
export function dateTarget(src: DateSource, profile: ProfileNow, from: number): number | null {
  const raw = src.from === 'trait' ? profile.traits[src.name] : profile.computed[src.name];
  const tz = timeZoneOf(profile.traits);
  let y: number;
  let m: number;
  let d: number;
  let time: { hour: number; minute: number } | null = src.at;
  const dateOnly = typeof raw === 'string' ? DATE_ONLY.exec(raw.trim()) : null;
  if (dateOnly) {
    y = Number(dateOnly[1]);
    m = Number(dateOnly[2]);
    d = Number(dateOnly[3]);
    time ??= { hour: 0, minute: 0 };
  } else {
    const t = asTime(raw);
    if (t === null) return null;
    if (time === null && !src.yearly) return t + src.offsetMs;
    const u = new Date(t);
    y = u.getUTCFullYear();
    m = u.getUTCMonth() + 1;
    d = u.getUTCDate();
    time ??= { hour: u.getUTCHours(), minute: u.getUTCMinutes() };
  }
  const at = (year: number) => {
    // The offset moves the calendar day; the time of day stays the wall-clock time asked for.
    const base = zonedInstant(tz, year, m, d, 12, 0) + src.offsetMs;
    return atTimeOnDayOf(tz, base, time.hour, time.minute);
  };
  if (!src.yearly) return at(y);
  const year = new Date(from).getUTCFullYear();
  for (let k = year - 1; k <= year + 2; k++) {
    const t = at(k);
    if (t >= from) return t;
  }
  return null;
}

function conditionHolds(c: Condition, p: ProfileNow, now: number): boolean {
  switch (c.kind) {
    case 'all':
      return c.of.every((x) => conditionHolds(x, p, now));
    case 'any':
      return c.of.some((x) => conditionHolds(x, p, now));
    case 'not':
      return !conditionHolds(c.of, p, now);
    case 'trait': {
      const v = readPath(p.traits, c.trait.split('.'));
      return passes(c.test, v === undefined ? null : v, now);
    }
    case 'computed': {
      const v = p.computed[c.key];
      return passes(c.test, v === undefined ? null : v, now);
    }
    case 'segment':
      return p.segments.has(c.key);
    case 'event':
    case 'sequence':
      // Refused by validation; a branch never holds them.
      return false;
  }
}

const EMPTY_PROFILE: ProfileNow = { traits: {}, computed: {}, segments: new Set() };

/** Builds a transition step by step. */
class Stepper {
  readonly effects: Effect[] = [];
  readonly stats: StatDelta[] = [];
  state: RunState;

  constructor(
    readonly j: Journey,
    state: RunState,
    readonly env: StepEnv,
  ) {
    this.state = state;
  }

  stat(node: string | null, metric: string, n = 1): void {
    this.stats.push({ node, metric, n });
  }

  get profile(): ProfileNow {
    return this.env.profile ?? EMPTY_PROFILE;
  }

  done(): Transition {
    return { state: { ...this.state, updatedAt: this.env.now }, effects: this.effects, stats: this.stats };
  }

  /** Leaves the node the run waits at (if any). */
  leave(): void {
    if (this.state.node !== null) this.stat(this.state.node, 'waiting', -1);
  }

  end(status: 'completed' | 'exited' | 'converted', reason: string): Transition {
    this.state = { ...this.state, status, node: null, wakeAt: null, reason };
    if (status === 'converted') this.stat(null, 'converted');
    else if (status === 'exited') this.stat(null, `exited:${reason}`);
    else this.stat(null, 'completed');
    if (status !== 'completed') this.effects.push({ kind: 'cancel_pending' });
    return this.done();
  }

  /** Runs from `id` until the run waits or ends. */
  run(id: string | null): Transition {
    let current = id;
    for (let hops = 0; hops < MAX_NODES_PER_STEP; hops++) {
      const exit = this.segmentExit();
      if (exit !== null) return this.end('exited', exit);
      if (current === null) return this.end('completed', 'completed');
      const node = this.j.nodes.get(current);
      if (node === undefined) return this.end('exited', `missing_node:${current}`);
      this.stat(node.id, 'reached');
      const step = this.state.steps + 1;
      this.state = { ...this.state, steps: step };
      const next = this.enter(node, step);
      if (next === WAITING) return this.done();
      if (next === ENDED) return this.end('completed', `exit:${node.id}`);
      this.stat(node.id, 'passed');
      current = next;
    }
    return this.end('exited', 'too_many_steps');
  }

  segmentExit(): string | null {
    if (this.env.profile === null) return null;
    for (const x of this.j.exits) {
      if (x.kind === 'segment' && this.env.profile.segments.has(x.key)) return x.reason;
    }
    return null;
  }

  wait(node: JourneyNode, at: number): typeof WAITING {
    this.stat(node.id, 'waiting', 1);
    this.state = { ...this.state, status: 'active', node: node.id, wakeAt: at };
    return WAITING;
  }

  /** Performs a node; returns the next node id, or WAITING / ENDED. */
  enter(node: JourneyNode, step: number): string | null | typeof WAITING | typeof ENDED {
    const now = this.env.now;
    const effectId = `${this.state.id}:${step}`;
    switch (node.type) {
      case 'wait': {
        const at = this.waitEnd(node.until);
        return at === null || at <= now ? node.next : this.wait(node, at);
      }
      case 'wait_for':
        return this.wait(node, now + node.timeoutMs);
      case 'branch': {
        const p = this.profile;
        for (const [i, b] of node.branches.entries()) {
          if (conditionHolds(b.condition, p, now)) {
            this.stat(node.id, `branch:${i}`);
            return b.next;
          }
        }
        this.stat(node.id, 'branch:otherwise');
        return node.otherwise;
      }
      case 'split': {
        const x = bucket(`split:${this.j.key}:${node.id}`, this.state.profileId);
        let acc = 0;
        let chosen = node.variants[node.variants.length - 1]!;
        for (const v of node.variants) {
          acc += v.percent;
          if (x < acc) {
            chosen = v;
            break;
          }
        }
        this.state = { ...this.state, variants: { ...this.state.variants, [node.id]: chosen.name } };
        this.stat(node.id, `variant:${chosen.name}`);
        return chosen.next;
      }
      case 'send':
        this.effects.push({
          kind: 'send',
          id: effectId,
          node: node.id,
          channel: node.channel,
          template: node.template,
          category: node.category,
          topic: node.topic,
        });
        this.stat(node.id, 'queued');
        return node.next;
      case 'update': {
        this.effects.push({
          kind: 'update',
          id: effectId,
          node: node.id,
          traits: { ...node.set },
          increment: { ...node.increment },
        });
        return node.next;
      }
      case 'exit':
        return ENDED;
    }
  }

  waitEnd(u: Extract<JourneyNode, { type: 'wait' }>['until']): number | null {
    const now = this.env.now;
    switch (u.kind) {
      case 'duration':
        return now + u.ms;
      case 'time_of_day':
        return nextTimeOfDay(timeZoneOf(this.profile.traits), now, u.at.hour, u.at.minute, u.weekdays);
      case 'date':
        return dateTarget(u.date, this.profile, now);
    }
  }
}

const WAITING = Symbol('waiting');
const ENDED = Symbol('ended');

/** A new run for a profile that entered (the shell has admitted it: re-entry, control group). */
export function begin(
  j: Journey,
  version: number,
  run: { id: string; profileId: string; trigger: EventSnapshot | null },
  env: StepEnv,
): Transition {
  const state: RunState = {
    id: run.id,
    journey: j.key,
    version,
    profileId: run.profileId,
    status: 'active',
    node: null,
    wakeAt: null,
    startedAt: env.now,
    updatedAt: env.now,
    trigger: run.trigger,
    steps: 0,
    arrivals: {},
    variants: {},
    reason: null,
  };
  const s = new Stepper(j, state, env);
  s.stat(null, 'entered');
  return s.run(j.start);
}

/**
 * An event of the run's profile: the goal (converted), an exit rule (exited), or what the current
 * `wait_for` waits for (arrived). Null when the event means nothing to this run.
 */
export function onEvent(j: Journey, state: RunState, ev: EventSnapshot, env: StepEnv): Transition | null {
  if (state.status !== 'active') return null;
  const now = env.now;
  const s = new Stepper(j, state, env);
  if (j.goal && matchesEvent(j.goal.match, ev, now) && ev.timestamp >= state.startedAt - 1000) {
    if (j.goal.withinMs === null || ev.timestamp <= state.startedAt + j.goal.withinMs) {
      if (state.node !== null) s.stat(state.node, 'converted');
      s.leave();
      return s.end('converted', 'goal');
    }
  }
  for (const x of j.exits) {
    const hit =
      x.kind === 'event'
        ? matchesEvent(x.match, ev, now) && correlated(x.correlate, ev, state.trigger)
        : ev.name === 'Segment Entered' && ev.properties.segment_key === x.key;
    if (hit) {
      if (state.node !== null) s.stat(state.node, `exited:${x.reason}`);
      s.leave();
      return s.end('exited', x.reason);
    }
  }
  const node = state.node === null ? undefined : j.nodes.get(state.node);
  if (
    node?.type === 'wait_for' &&
    matchesEvent(node.match, ev, now) &&
    correlated(node.correlate, ev, state.trigger)
  ) {
    s.leave();
    s.stat(node.id, 'arrived');
    s.state = { ...s.state, arrivals: { ...s.state.arrivals, [node.id]: ev }, node: null, wakeAt: null };
    return s.run(node.arrived);
  }
  return null;
}

/** The run's timer fired: a wait ended or a wait_for timed out. Null when it is not due. */
export function onTimer(j: Journey, state: RunState, env: StepEnv): Transition | null {
  if (state.status !== 'active' || state.wakeAt === null || state.wakeAt > env.now) return null;
  const node = state.node === null ? undefined : j.nodes.get(state.node);
  // A date wait re-reads its date: if it moved later, the run keeps waiting.
  if (node?.type === 'wait' && node.until.kind === 'date' && env.profile !== null) {
    const at = dateTarget(node.until.date, env.profile, env.now);
    if (at !== null && at > env.now)
      return { state: { ...state, wakeAt: at, updatedAt: env.now }, effects: [], stats: [] };
  }
  const s = new Stepper(j, state, env);
  s.leave();
  s.state = { ...s.state, node: null, wakeAt: null };
  if (node === undefined) return s.end('exited', `missing_node:${state.node}`);
  if (node.type === 'wait') {
    s.stat(node.id, 'passed');
    return s.run(node.next);
  }
  if (node.type === 'wait_for') {
    s.stat(node.id, 'timed_out');
    return s.run(node.timedOut);
  }
  return s.end('exited', `not_waiting:${node.id}`);
}

/** Ends a run from outside (the journey was stopped). */
export function stop(j: Journey, state: RunState, reason: string, env: StepEnv): Transition {
  const s = new Stepper(j, state, env);
  if (state.node !== null) s.stat(state.node, `exited:${reason}`);
  s.leave();
  return s.end('exited', reason);
}
