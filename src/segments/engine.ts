import { BinaryHeap } from '../core/binary-heap.ts';
import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import type { ProfileId } from '../core/ids.ts';
import type { CommitChanges, ScannedEvent } from '../store/port.ts';
import {
  computeValue,
  earliest,
  evaluate as evaluateCondition,
  type Fact,
  insertFact,
  nextChange,
  type ProfileView,
  pruneFacts,
  toFact,
} from './evaluate.ts';
import type { CompiledSegment, Registry } from './registry.ts';

export const SEGMENT_ENTERED = 'Segment Entered';
export const SEGMENT_EXITED = 'Segment Exited';

/** A membership change to announce as a `Segment Entered` / `Segment Exited` event. */
export interface Transition {
  readonly profile: ProfileId;
  readonly key: string;
  readonly entered: boolean;
  readonly at: number;
  /** An identity the event can carry, when known. */
  readonly userId: string | null;
  readonly anonymousId: string | null;
}

const EMPTY: JsonObject = Object.freeze({}) as JsonObject;

class ProfileState implements ProfileView {
  traits: JsonObject = EMPTY;
  readonly events = new Map<string, Fact[]>();
  members: Set<string> | null = null;
  timerAt = 0;
  userId: string | null = null;
  anonymousId: string | null = null;

  isMember(key: string): boolean {
    return this.members?.has(key) ?? false;
  }
}

type Dirty = { names: Set<string> | null; traits: boolean; all: boolean };

/**
 * Segment membership, maintained incrementally in memory for one workspace. It holds per profile
 * only what the definitions read (projected events, within their longest window, and the traits
 * they name), re-evaluates only the segments an input can affect, and keeps one timer per profile
 * for the moment a window next slides past one of its events. No I/O: the service feeds it commits
 * and scanned events, and announces the transitions it returns.
 */
export class SegmentEngine {
  private reg: Registry;
  private readonly profiles = new Map<ProfileId, ProfileState>();
  private readonly memberSets = new Map<string, Set<ProfileId>>();
  private readonly sortedMembers = new Map<string, ProfileId[]>();
  /** Segments being recomputed: not evaluated live until released. */
  private readonly frozen = new Set<string>();
  /** Profiles an input reached while some segment was frozen: evaluated again on release. */
  private readonly skipped = new Set<ProfileId>();
  private readonly timers = new BinaryHeap<{ at: number; profile: ProfileId }>((a, b) => a.at < b.at);

  constructor(reg: Registry) {
    this.reg = reg;
  }

  get registry(): Registry {
    return this.reg;
  }

  get profileCount(): number {
    return this.profiles.size;
  }

  /** Installs new definitions; `frozen` segments wait for `release`. Drops removed segments' members. */
  setRegistry(reg: Registry, frozen: Iterable<string>): void {
    this.reg = reg;
    for (const key of frozen) this.frozen.add(key);
    for (const key of [...this.memberSets.keys()]) {
      if (reg.segmentByKey.has(key)) continue;
      for (const p of this.memberSets.get(key)!) this.profiles.get(p)?.members?.delete(key);
      this.memberSets.delete(key);
      this.sortedMembers.delete(key);
    }
    // Facts of names no longer read are dropped; kept names are re-pruned lazily.
    for (const state of this.profiles.values()) {
      for (const name of state.events.keys()) if (!reg.projections.has(name)) state.events.delete(name);
    }
  }

  /** Forgets the facts of these event names (before they are scanned again). */
  dropFacts(names: ReadonlySet<string>): void {
    for (const state of this.profiles.values()) for (const n of names) state.events.delete(n);
  }

  isFrozen(key: string): boolean {
    return this.frozen.has(key);
  }

  /**
   * Lets these segments be evaluated live again, and evaluates them (announcing changes) for every
   * profile an input reached while they were frozen.
   */
  release(keys: ReadonlySet<string>, now: number): Transition[] {
    for (const k of keys) this.frozen.delete(k);
    const out: Transition[] = [];
    const segments = this.reg.segments.filter((s) => keys.has(s.key));
    for (const id of this.skipped) {
      const s = this.profiles.get(id);
      if (s !== undefined) this.evaluateProfile(id, s, segments, now, out, false);
    }
    this.skipped.clear();
    return out;
  }

  private state(id: ProfileId): ProfileState {
    let s = this.profiles.get(id);
    if (s === undefined) {
      s = new ProfileState();
      this.profiles.set(id, s);
    }
    return s;
  }

  /** Makes a profile known (every profile can be a member of a segment like "did not …"). */
  touch(id: ProfileId, traits?: JsonObject): void {
    const s = this.state(id);
    if (traits !== undefined) s.traits = this.project(traits);
  }

  private project(traits: JsonObject): JsonObject {
    const names = this.reg.traitNames;
    if (names.size === 0) return EMPTY;
    const out: JsonObject = {};
    for (const n of names) if (traits[n] !== undefined) out[n] = traits[n];
    return out;
  }

  /** Sets a profile's traits (as scanned); no evaluation. */
  setTraits(id: ProfileId, traits: JsonObject): void {
    this.state(id).traits = this.project(traits);
  }

  /** Adds an event read back from the log; no evaluation. */
  addScanned(e: ScannedEvent, now: number): void {
    const s = this.state(e.profileId);
    const body = e.body;
    if (s.userId === null && typeof body.userId === 'string') s.userId = body.userId;
    if (s.anonymousId === null && typeof body.anonymousId === 'string') s.anonymousId = body.anonymousId;
    const mid = typeof body.messageId === 'string' ? body.messageId : String(e.seq);
    if (e.name !== null) this.addFact(s, e.name, e.timestamp, mid, body, now);
  }

  private addFact(
    s: ProfileState,
    name: string,
    ts: number,
    mid: string,
    body: unknown,
    now: number,
  ): boolean {
    const projection = this.reg.projections.get(name);
    if (projection === undefined) return false;
    let list = s.events.get(name);
    if (list === undefined) {
      list = [];
      s.events.set(name, list);
    }
    const added = insertFact(list, toFact(projection, ts, mid, body));
    pruneFacts(list, projection.horizonMs, now);
    return added;
  }

  /**
   * Applies one commit as the store reported it, and returns the membership changes it caused.
   * `events` are the commit's input events, flattened in order.
   */
  applyCommit(events: readonly NormalizedEvent[], changes: CommitChanges, now: number): Transition[] {
    const dirty = new Map<ProfileId, Dirty>();
    const mark = (p: ProfileId): Dirty => {
      let d = dirty.get(p);
      if (d === undefined) {
        d = { names: null, traits: false, all: false };
        dirty.set(p, d);
      }
      return d;
    };
    let m = 0;
    const merges = changes.merges;
    for (let i = 0; i < events.length; i++) {
      while (m < merges.length && merges[m]!.at === i) {
        const { from, into } = merges[m++]!;
        this.merge(from, into, now);
        dirty.delete(from);
        mark(into).all = true;
      }
      const profile = changes.profiles[i];
      if (profile === null || profile === undefined) continue;
      const ev = events[i]!;
      const known = this.profiles.has(profile);
      const s = this.state(profile);
      // A profile seen for the first time is evaluated against every segment ("did not …" included).
      if (!known) mark(profile).all = true;
      if (ev.userId !== null) s.userId = ev.userId;
      else if (s.anonymousId === null && ev.anonymousId !== null) s.anonymousId = ev.anonymousId;
      if (ev.name === null || !this.reg.projections.has(ev.name)) continue;
      const body = JSON.parse(ev.bodyJson) as JsonObject;
      const d = mark(profile);
      if (this.addFact(s, ev.name, ev.timestamp, ev.messageId, body, now)) {
        d.names ??= new Set();
        d.names.add(ev.name);
      }
    }
    for (const [profile, traits] of changes.traits) {
      this.state(profile).traits = this.project(traits);
      mark(profile).traits = true;
    }
    const out: Transition[] = [];
    for (const [profile, d] of dirty) {
      const s = this.profiles.get(profile);
      if (s === undefined) continue;
      this.evaluateProfile(profile, s, this.segmentsFor(d), now, out, d.all);
    }
    return out;
  }

  private segmentsFor(d: Dirty): readonly CompiledSegment[] {
    // A profile seen for the first time, or merged, is evaluated against every segment.
    if (d.all) return this.reg.segments;
    const lists: (readonly CompiledSegment[])[] = [];
    if (d.names) for (const n of d.names) lists.push(this.reg.byEvent.get(n) ?? []);
    if (d.traits) lists.push(this.reg.byTraits);
    if (lists.length === 0) return [];
    if (lists.length === 1) return lists[0]!;
    const seen = new Set<CompiledSegment>();
    for (const l of lists) for (const s of l) seen.add(s);
    return [...seen].sort((a, b) => a.order - b.order);
  }

  private merge(from: ProfileId, into: ProfileId, now: number): void {
    const a = this.profiles.get(from);
    const b = this.state(into);
    if (a === undefined) return;
    for (const [name, list] of a.events) {
      const projection = this.reg.projections.get(name);
      let target = b.events.get(name);
      if (target === undefined) {
        target = [];
        b.events.set(name, target);
      }
      for (const f of list) insertFact(target, f);
      if (projection) pruneFacts(target, projection.horizonMs, now);
    }
    b.userId ??= a.userId;
    b.anonymousId ??= a.anonymousId;
    this.forget(from);
  }

  /** Drops a profile (merged away or erased). */
  forget(id: ProfileId): void {
    const s = this.profiles.get(id);
    if (s === undefined) return;
    if (s.members) {
      for (const key of s.members) {
        this.memberSets.get(key)?.delete(id);
        this.sortedMembers.delete(key);
      }
    }
    this.profiles.delete(id);
  }

  private evaluateProfile(
    id: ProfileId,
    s: ProfileState,
    segments: readonly CompiledSegment[],
    now: number,
    out: Transition[] | null,
    full: boolean,
  ): void {
    let wake: number | null = s.timerAt > now ? s.timerAt : null;
    if (full) wake = null;
    for (const seg of segments) {
      // Live inputs leave frozen segments alone; the silent pass of a recompute (out null) does not.
      if (out !== null && this.frozen.has(seg.key)) {
        this.skipped.add(id);
        continue;
      }
      const member = evaluateCondition(this.reg, seg.condition, s, now);
      if (this.setMember(id, s, seg.key, member) && out !== null) {
        out.push({
          profile: id,
          key: seg.key,
          entered: member,
          at: now,
          userId: s.userId,
          anonymousId: s.anonymousId,
        });
      }
      if (seg.timed) wake = earliest(wake, nextChange(this.reg, seg.condition, s, now));
    }
    if (full) {
      // A full evaluation recomputes the wake-up time from every timed segment.
      wake = null;
      for (const seg of this.reg.timed) wake = earliest(wake, nextChange(this.reg, seg.condition, s, now));
    }
    if (wake !== null && wake > now && wake !== s.timerAt) {
      s.timerAt = wake;
      this.timers.push({ at: wake, profile: id });
    } else if (wake === null) s.timerAt = 0;
  }

  /** True when membership changed. */
  private setMember(id: ProfileId, s: ProfileState, key: string, member: boolean): boolean {
    if (member === s.isMember(key)) return false;
    let set = this.memberSets.get(key);
    if (set === undefined) {
      set = new Set();
      this.memberSets.set(key, set);
    }
    if (member) {
      s.members ??= new Set();
      s.members.add(key);
      set.add(id);
    } else {
      s.members?.delete(key);
      set.delete(id);
    }
    this.sortedMembers.delete(key);
    return true;
  }

  /**
   * Evaluates every known profile against these segments, silently: the first computation of a
   * segment is its starting point, not a change (announcing it would flood journeys and analytics
   * with every existing member). Yields the number of profiles done, chunk by chunk.
   */
  *evaluateAll(keys: ReadonlySet<string>, now: number, chunk = 5000): Generator<number> {
    const segments = this.reg.segments.filter((s) => keys.has(s.key));
    let n = 0;
    // Profiles added while this runs (between chunks) are evaluated live; a snapshot keeps it finite.
    for (const id of [...this.profiles.keys()]) {
      const s = this.profiles.get(id);
      if (s === undefined) continue;
      this.evaluateProfile(id, s, segments, now, null, false);
      if (++n % chunk === 0) yield chunk;
    }
    yield n % chunk;
  }

  /** Re-evaluates the profiles whose windows slid past an event by `now`. */
  fireDue(now: number): Transition[] {
    const out: Transition[] = [];
    for (;;) {
      const top = this.timers.peek();
      if (top === undefined || top.at > now) break;
      this.timers.pop();
      const s = this.profiles.get(top.profile);
      if (s === undefined || s.timerAt !== top.at) continue;
      s.timerAt = 0;
      this.evaluateProfile(top.profile, s, this.reg.timed, now, out, true);
    }
    return out;
  }

  /** When the next timer is due, if any. */
  nextDue(): number | null {
    for (;;) {
      const top = this.timers.peek();
      if (top === undefined) return null;
      const s = this.profiles.get(top.profile);
      if (s !== undefined && s.timerAt === top.at) return top.at;
      this.timers.pop();
    }
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  size(key: string): number {
    return this.memberSets.get(key)?.size ?? 0;
  }

  /** Members in profile-id order, after `cursor`. */
  members(
    key: string,
    limit: number,
    cursor: string | null,
  ): { members: ProfileId[]; cursor: string | null } {
    let sorted = this.sortedMembers.get(key);
    if (sorted === undefined) {
      sorted = [...(this.memberSets.get(key) ?? [])].sort();
      this.sortedMembers.set(key, sorted);
    }
    let lo = 0;
    if (cursor !== null) {
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid]! <= cursor) lo = mid + 1;
        else hi = mid;
      }
    }
    const page = sorted.slice(lo, lo + limit);
    const more = lo + limit < sorted.length;
    return { members: page, cursor: more ? page[page.length - 1]! : null };
  }

  segmentsOf(id: ProfileId): string[] {
    const s = this.profiles.get(id);
    return s?.members ? [...s.members].filter((k) => !this.frozen.has(k)).sort() : [];
  }

  computedOf(id: ProfileId, now: number): JsonObject {
    const s = this.profiles.get(id);
    const out: JsonObject = {};
    for (const [key, def] of this.reg.computed) out[key] = s ? computeValue(def, s, now) : null;
    return out;
  }

  /** The state kept in memory, for metrics and benchmarks. */
  stats(): { profiles: number; facts: number; timers: number } {
    let facts = 0;
    for (const s of this.profiles.values()) for (const l of s.events.values()) facts += l.length;
    return { profiles: this.profiles.size, facts, timers: this.timers.size };
  }
}
