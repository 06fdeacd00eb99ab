import type { JsonObject } from '../core/event.ts';
import type { ProfileId } from '../core/ids.ts';
import type { CompactCommit, CompactFact } from './compact.ts';
import {
  ComputedMemo,
  computeValue,
  earliest,
  evaluate as evaluateCondition,
  evaluateTimed,
  lastChangeAt,
  nextChange,
  type ProfileView,
} from './evaluate.ts';
import { FactArena, ProfileFacts } from './facts.ts';
import { IdTable } from './id-table.ts';
import type { CompiledSegment, Projection, Registry } from './registry.ts';
import { TimerHeap } from './timer-heap.ts';

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

const TIMER = 0;
const PRUNE = 1;
const RECORD_TIMES = 2;

/**
 * What every evaluation of a profile reads and writes, for all profiles side by side in one buffer,
 * a record each: when its timer is due, the first moment one of its facts is older than every
 * window that reads it, and its membership bits (one per segment, by dependency order, 32 to a
 * word). As fields of the profile's object the two times were numbers boxed on the heap and the
 * bits an array, each a read of its own from memory that is not in the cache (a profile is
 * reached once in a while among a million); a record is one cache line or two.
 */
class Records {
  /** Each record's profile id. */
  readonly ids = new IdTable();
  /** Where each segment's bit sits in a record (its dependency order). */
  order = new Map<string, number>();
  words = 1;
  /** Float64 numbers a record takes: the two times, then the bits, two words to a number. */
  stride = RECORD_TIMES + 1;
  /** The records as times, and as words: `w[2 * stride * r + 2 * RECORD_TIMES + word]`. */
  f = new Float64Array(0);
  w = new Int32Array(0);
  private top = 0;
  private readonly free: number[] = [];

  /** A new record: no timer, nothing to prune, in no segment. */
  alloc(): number {
    let r = this.free.pop();
    if (r === undefined) {
      r = this.top++;
      if (this.top * this.stride > this.f.length)
        this.resize(Math.max(1024, 2 * this.top), this.stride, null);
    }
    const at = r * this.stride;
    this.f[at + TIMER] = 0;
    this.f[at + PRUNE] = Number.POSITIVE_INFINITY;
    this.w.fill(0, this.bitsOf(r), 2 * (at + this.stride));
    return r;
  }

  release(r: number): void {
    this.free.push(r);
  }

  /** Where record `r`'s first word of bits is in `w`. */
  bitsOf(r: number): number {
    return 2 * (r * this.stride + RECORD_TIMES);
  }

  /** Whether record `r` is in any segment. */
  inAny(r: number): boolean {
    const from = this.bitsOf(r);
    for (let k = from; k < from + this.words; k++) if (this.w[k] !== 0) return true;
    return false;
  }

  /**
   * Lays the bits out anew, `words` to a record: each bit at `i` moves to `j` for every [i, j] in
   * `moves`; the rest are cleared.
   */
  relayout(order: Map<string, number>, words: number, moves: readonly [number, number][]): void {
    this.order = order;
    this.words = words;
    this.resize(Math.max(1024, this.top), RECORD_TIMES + Math.ceil(words / 2), moves);
  }

  private resize(records: number, stride: number, moves: readonly [number, number][] | null): void {
    const buf = new ArrayBuffer(8 * records * stride);
    const f = new Float64Array(buf);
    const w = new Int32Array(buf);
    if (moves === null && stride === this.stride) f.set(this.f);
    else {
      for (let r = 0; r < this.top; r++) {
        const from = r * this.stride;
        const to = r * stride;
        f[to + TIMER] = this.f[from + TIMER]!;
        f[to + PRUNE] = this.f[from + PRUNE]!;
        for (const [i, j] of moves ?? []) {
          if ((this.w[this.bitsOf(r) + (i >>> 5)]! & (1 << (i & 31))) !== 0)
            w[2 * (to + RECORD_TIMES) + (j >>> 5)]! |= 1 << (j & 31);
        }
      }
    }
    this.f = f;
    this.w = w;
    this.stride = stride;
  }
}

/**
 * A profile's state is its list of facts too (of every name, in time order): one object less to
 * reach from memory for each event added and each evaluation.
 */
class ProfileState extends ProfileFacts implements ProfileView {
  // The fields read for every event come first, right after the facts' own, so that they share
  // the few lines of memory the facts' fields take (declared in this order, with a value each,
  // they are laid out in this order).
  /** Its record (see `Records`). */
  readonly record: number = -1;
  /**
   * Where what the commit being applied changed about it is in that commit's list (−1 between
   * commits). A number, not the object: a young object stored in a state that is old would be
   * remembered by the next young collection, once for each profile a commit reaches.
   */
  dirtyAt = -1;
  userId: string | null = null;
  private readonly records: Records;
  traits: JsonObject = EMPTY;
  anonymousId: string | null = null;
  /** Set when the profile is forgotten (merged away or erased): its pending timers are void. */
  gone = false;
  /** The engine's memo of computed values while this profile is being evaluated (else null). */
  computedMemo: ComputedMemo | null = null;

  constructor(records: Records, arena: FactArena) {
    super(arena);
    this.records = records;
    this.record = records.alloc();
  }

  /** Its id, kept with its record (see `IdTable`), not as a string of its own. */
  get id(): ProfileId {
    return this.records.ids.idOf(this.record) as ProfileId;
  }

  get facts(): ProfileFacts {
    return this;
  }

  /** When its timer is due (0: none). */
  get timerAt(): number {
    return this.records.f[this.record * this.records.stride + TIMER]!;
  }

  set timerAt(at: number) {
    this.records.f[this.record * this.records.stride + TIMER] = at;
  }

  /** The first moment one of its facts is older than every window that reads it. */
  get pruneAt(): number {
    return this.records.f[this.record * this.records.stride + PRUNE]!;
  }

  set pruneAt(at: number) {
    this.records.f[this.record * this.records.stride + PRUNE] = at;
  }

  isMember(key: string): boolean {
    const i = this.records.order.get(key);
    return i !== undefined && this.has(i);
  }

  has(i: number): boolean {
    const r = this.records;
    return (r.w[r.bitsOf(this.record) + (i >>> 5)]! & (1 << (i & 31))) !== 0;
  }

  set(i: number, on: boolean): void {
    const r = this.records;
    const k = r.bitsOf(this.record) + (i >>> 5);
    if (on) r.w[k]! |= 1 << (i & 31);
    else r.w[k]! &= ~(1 << (i & 31));
  }

  inAny(): boolean {
    return this.records.inAny(this.record);
  }
}

/** A class of its own for a registry's projected traits: a new shape, sized by V8 as it is filled. */
const projectedTraits = (): (new () => JsonObject) => class ProjectedTraits {} as new () => JsonObject;

/** A profile a commit reached, and what about it changed. */
class Dirty {
  /** Names of the events added (usually one or two). */
  names: string[] | null = null;
  traits = false;
  all = false;
  /** Evaluated already, right after its last input of the commit. */
  done = false;
  constructor(readonly state: ProfileState) {}

  added(name: string): void {
    if (this.names === null) this.names = [name];
    else if (!this.names.includes(name)) this.names.push(name);
  }
}

/**
 * Segment membership, maintained incrementally in memory for one workspace. It holds per profile
 * only what the definitions read (projected events, within their longest window, and the traits
 * they name), re-evaluates only the segments an input can affect, and keeps one timer per profile
 * for the moment a window next slides past one of its events. No I/O: the service feeds it commits
 * and scanned events, and announces the transitions it returns.
 */
export class SegmentEngine {
  private reg: Registry;
  /** Members per segment, by key (the bits on the profiles are the membership itself). */
  private sizes = new Map<string, number>();
  /**
   * Records in the order of their profiles' ids, for paging members, each with its generation
   * when it was listed (see `generations`): an entry whose record has since been let go is stale.
   */
  private sorted: number[] = [];
  private sortedGen: number[] = [];
  /** Records of profiles added since `sorted` was last brought up to date, with their generations. */
  private added: number[] = [];
  private addedGen: number[] = [];
  /** By record, how many times it has been let go (a record is reused by a later profile). */
  private readonly generations: number[] = [];
  /** Whether a record has been let go since stale entries were last dropped from `sorted`. */
  private forgotten = false;
  /** Segments being recomputed: not evaluated live until released. */
  private readonly frozen = new Set<string>();
  /** Profiles an input reached while some segment was frozen: evaluated again on release. */
  private readonly skipped = new Set<ProfileId>();
  private readonly records = new Records();
  /** The facts of every profile, in one array. */
  private readonly arena = new FactArena(1 << 16);
  /** Computed values of the profile being evaluated (one memo, reset for each profile). */
  private readonly memo = new ComputedMemo();
  /** For `segmentsFor`: by segment order, the number of the last call that picked it. */
  private readonly picked: number[] = [];
  /** For `follow`: the record of each event's profile in the commit being applied (reused). */
  private recordAt = new Int32Array(1024);
  /** For `follow`: by record, where its profile's last input in the commit being applied is. */
  private lastAt = new Int32Array(1024);
  private passes = 0;
  /** Pending timers, by record: a profile's timer is pending while its `timerAt` is the entry's time. */
  private readonly timers = new TimerHeap();
  /** Each record's profile (undefined once forgotten). */
  private readonly byRecord: (ProfileState | undefined)[] = [];
  /** The class of projected traits for the current registry (see `project`). */
  private Traits: new () => JsonObject;

  constructor(reg: Registry) {
    this.reg = reg;
    this.Traits = projectedTraits();
    this.relayout();
  }

  /**
   * Lays the bits out for the registry's segments (dependency order may have changed) and moves
   * each profile's bits to the new places; segments that are gone lose their members.
   */
  private relayout(): void {
    const before = this.records.order;
    const after = new Map(this.reg.segments.map((s) => [s.key, s.order]));
    const moves: [number, number][] = [];
    for (const [key, i] of before) {
      const j = after.get(key);
      if (j !== undefined) moves.push([i, j]);
    }
    this.records.relayout(after, Math.max(1, Math.ceil(this.reg.segments.length / 32)), moves);
    this.sizes = new Map([...this.sizes].filter(([key]) => after.has(key)));
  }

  get registry(): Registry {
    return this.reg;
  }

  /** Installs new definitions; `frozen` segments wait for `release`. Drops removed segments' members. */
  setRegistry(reg: Registry, frozen: Iterable<string>): void {
    this.reg = reg;
    this.Traits = projectedTraits();
    for (const key of frozen) this.frozen.add(key);
    this.relayout();
    // Facts of names no longer read are dropped; kept names are re-pruned lazily.
    for (const state of this.byRecord) state?.retain((name) => reg.projections.has(name));
  }

  /** Forgets the facts of these event names (before they are scanned again). */
  dropFacts(names: ReadonlySet<string>): void {
    for (const state of this.byRecord) state?.retain((name) => !names.has(name));
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
      const s = this.find(id);
      if (s !== undefined) this.evaluateProfile(s, segments, now, out, false);
    }
    this.skipped.clear();
    return out;
  }

  private find(id: ProfileId): ProfileState | undefined {
    const r = this.records.ids.find(id);
    return r < 0 ? undefined : this.byRecord[r];
  }

  private state(id: ProfileId): ProfileState {
    return this.find(id) ?? this.create(id);
  }

  private create(id: ProfileId): ProfileState {
    const s = new ProfileState(this.records, this.arena);
    const r = s.record;
    this.records.ids.add(id, r);
    this.byRecord[r] = s;
    this.generations[r] ??= 0;
    this.added.push(r);
    this.addedGen.push(this.generations[r]!);
    return s;
  }

  /** Makes a profile known (every profile can be a member of a segment like "did not …"). */
  touch(id: ProfileId, traits?: JsonObject): void {
    const s = this.state(id);
    if (traits !== undefined) s.traits = this.project(traits);
  }

  /**
   * The traits the definitions read: each name as an own property (undefined when the profile has
   * no such trait, so that no name is ever looked up on a prototype), in the registry's order, on
   * an instance of a class of this registry's own. All of them then share one shape, and V8 keeps
   * up to ten such properties in the object itself; a plain object keeps four there and the rest in
   * an array of their own: one more object per profile for every full collection to mark.
   */
  private project(traits: JsonObject): JsonObject {
    const names = this.reg.traitNames;
    if (names.size === 0) return EMPTY;
    const out = new this.Traits();
    for (const n of names) {
      const v = Object.hasOwn(traits, n) ? this.arena.intern(traits[n]) : undefined;
      if (n === '__proto__') Object.defineProperty(out, n, { value: v, enumerable: true, writable: true });
      else out[n] = v;
    }
    return out;
  }

  /** Adds facts read back from the log; no evaluation. */
  addFacts(page: readonly CompactFact[], now: number): void {
    for (const [profile, name, ts, tie, values, userId, anonymousId] of page) {
      const s = this.state(profile);
      if (s.userId === null && userId !== null) s.userId = userId;
      if (s.anonymousId === null && anonymousId !== null) s.anonymousId = anonymousId;
      this.addFact(s, this.reg.projections.get(name), ts, tie, values, 0, values.length, now);
    }
  }

  /** Adds a fact of the name `projection` is for (none: a name no definition reads). */
  private addFact(
    s: ProfileState,
    projection: Projection | undefined,
    ts: number,
    tie: number,
    values: readonly unknown[],
    from: number,
    count: number,
    now: number,
  ): boolean {
    if (projection === undefined) return false;
    // Older than every window that reads its name: no result can count it, and pruning would drop
    // it at once. A recompute over a long history meets many.
    if (ts + projection.horizonMs <= now) return false;
    const added = s.insert(projection.name, ts, tie, values, from, count);
    s.pruneAt = Math.min(s.pruneAt, ts + projection.horizonMs);
    if (now >= s.pruneAt) this.prune(s, now);
    return added;
  }

  /** Lets go of facts no window can count any more (older than their name's longest window). */
  private prune(s: ProfileState, now: number): void {
    const projections = this.reg.projections;
    const horizon = (name: string) => projections.get(name)?.horizonMs ?? 0;
    s.retain((name, t) => t > now - horizon(name));
    let next = Number.POSITIVE_INFINITY;
    for (let k = 0; k < s.length; k++) next = Math.min(next, s.ts(k) + horizon(s.nameOf(k)));
    s.pruneAt = next;
  }

  /** Applies one commit (see `compactCommit`) and returns the membership changes it caused. */
  applyCommit(c: CompactCommit, now: number): Transition[] {
    const dirty: Dirty[] = [];
    try {
      return this.follow(c, now, dirty);
    } finally {
      for (const d of dirty) d.state.dirtyAt = -1;
    }
  }

  private follow(c: CompactCommit, now: number, dirty: Dirty[]): Transition[] {
    // Each profile is looked up once in the engine's map; where what changed about it is in
    // `dirty` hangs on its state while the commit is applied.
    const mark = (s: ProfileState): Dirty => {
      if (s.dirtyAt < 0) {
        s.dirtyAt = dirty.length;
        dirty.push(new Dirty(s));
      }
      return dirty[s.dirtyAt]!;
    };
    const merge = (from: ProfileId, into: ProfileId) => {
      // The profile merged away is forgotten: its state is gone, and skipped below.
      this.merge(from, into, now);
      mark(this.state(into)).all = true;
    };
    let m = 0;
    let f = 0;
    // Each name of the commit looked up once, not each fact's copy of it.
    const projections = c.facts.names.map((n) => this.reg.projections.get(n));
    /** Where fact `f`'s values start. */
    let v = 0;
    const merges = c.merges;
    const facts = c.facts;
    const out: Transition[] = [];
    // With no merge in the commit, a profile is evaluated right after its last event of the commit,
    // while its state is still in the processor's cache, instead of after the whole commit (a
    // commit reaches a thousand profiles, whose states the cache does not hold all at once).
    // Profiles whose traits changed wait for those, after the events.
    const looked = merges.length === 0 && this.lookUp(c, mark);
    for (let i = 0; i < c.profiles.length; i++) {
      while (m < merges.length && merges[m]!.at === i) {
        const { from, into } = merges[m++]!;
        merge(from, into);
      }
      const profile = c.profiles[i];
      if (profile === null || profile === undefined) {
        while (f < facts.at.length && facts.at[f] === i) v += facts.width[f++]!;
        continue;
      }
      let s = looked ? this.byRecord[this.recordAt[i]!] : this.find(profile);
      // A profile seen for the first time is evaluated against every segment ("did not …" included).
      if (s === undefined) {
        s = this.create(profile);
        mark(s).all = true;
      }
      const userId = c.userIds[i] ?? null;
      const anonymousId = c.anonymousIds[i] ?? null;
      // The first identity seen is kept (any of a profile's ids names it in an announcement). Not
      // compared with the one held: that would read a string elsewhere on the heap for every
      // event; and the commit's copy of the same id would outlive the commit for nothing.
      if (userId !== null) {
        if (s.userId === null) s.userId = userId;
      } else if (s.anonymousId === null && anonymousId !== null) s.anonymousId = anonymousId;
      for (; f < facts.at.length && facts.at[f] === i; f++) {
        const projection = projections[facts.name[f]!];
        const width = facts.width[f]!;
        if (this.addFact(s, projection, facts.ts[f]!, facts.tie[f]!, facts.values, v, width, now))
          mark(s).added(projection!.name);
        v += width;
      }
      if (looked && s.dirtyAt >= 0 && this.lastAt[s.record] === i) {
        const d = dirty[s.dirtyAt]!;
        this.evaluateDirty(d, now, out);
        d.done = true;
      }
    }
    while (m < merges.length) {
      const { from, into } = merges[m++]!;
      merge(from, into);
    }
    for (const [profile, traits] of c.traits) {
      const s = this.state(profile);
      s.traits = this.project(traits);
      mark(s).traits = true;
    }
    for (const d of dirty) {
      if (d.state.gone || d.done) continue;
      this.evaluateDirty(d, now, out);
    }
    return out;
  }

  /**
   * Looks up each event's profile (making those seen for the first time), and where each one's
   * last event of the commit is: −1 for a profile whose traits changed, which waits for those.
   */
  private lookUp(c: CompactCommit, mark: (s: ProfileState) => Dirty): true {
    const n = c.profiles.length;
    if (this.recordAt.length < n) this.recordAt = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const p = c.profiles[i];
      if (p === null || p === undefined) continue;
      let s = this.find(p);
      if (s === undefined) {
        s = this.create(p);
        mark(s).all = true;
      }
      this.recordAt[i] = s.record;
      this.lastAtOf(s.record, i);
    }
    for (const [p] of c.traits) {
      const s = this.find(p);
      if (s !== undefined) this.lastAtOf(s.record, -1);
    }
    return true;
  }

  private lastAtOf(r: number, i: number): void {
    if (r >= this.lastAt.length) {
      const grown = new Int32Array(2 * r + 2);
      grown.set(this.lastAt);
      this.lastAt = grown;
    }
    this.lastAt[r] = i;
  }

  private evaluateDirty(d: Dirty, now: number, out: Transition[]): void {
    this.evaluateProfile(d.state, this.segmentsFor(d), now, out, d.all, d.all || d.traits ? null : d.names);
  }

  private segmentsFor(d: Dirty): readonly CompiledSegment[] {
    // A profile seen for the first time, or merged, is evaluated against every segment.
    if (d.all) return this.reg.segments;
    // The usual case, one event name and no trait change: the registry's list as it is.
    if (!d.traits && d.names !== null && d.names.length === 1) return this.reg.byEvent.get(d.names[0]!) ?? [];
    const lists: (readonly CompiledSegment[])[] = [];
    if (d.names !== null) for (const n of d.names) lists.push(this.reg.byEvent.get(n) ?? []);
    if (d.traits) lists.push(this.reg.byTraits);
    if (lists.length === 0) return [];
    if (lists.length === 1) return lists[0]!;
    // Each segment once: marked with this call's number where its order is (no set to fill).
    const pass = ++this.passes;
    const out: CompiledSegment[] = [];
    for (const l of lists) {
      for (const seg of l) {
        if (this.picked[seg.order] === pass) continue;
        this.picked[seg.order] = pass;
        out.push(seg);
      }
    }
    return out.sort((a, b) => a.order - b.order);
  }

  private merge(from: ProfileId, into: ProfileId, now: number): void {
    const a = this.find(from);
    const b = this.state(into);
    if (a === undefined) return;
    for (let k = 0; k < a.length; k++) {
      const values = a.valuesOf(k);
      this.addFact(
        b,
        this.reg.projections.get(a.nameOf(k)),
        a.ts(k),
        a.tie(k),
        values,
        0,
        values.length,
        now,
      );
    }
    b.userId ??= a.userId;
    b.anonymousId ??= a.anonymousId;
    this.forget(from);
  }

  /** Drops a profile (merged away or erased). */
  forget(id: ProfileId): void {
    const s = this.find(id);
    if (s === undefined) return;
    if (s.inAny()) {
      for (const seg of this.reg.segments) {
        if (s.has(seg.order)) this.sizes.set(seg.key, (this.sizes.get(seg.key) ?? 1) - 1);
      }
    }
    s.gone = true;
    s.clear();
    this.byRecord[s.record] = undefined;
    this.records.ids.remove(s.record);
    this.records.release(s.record);
    this.generations[s.record]!++;
    this.forgotten = true;
  }

  private evaluateProfile(
    s: ProfileState,
    segments: readonly CompiledSegment[],
    now: number,
    out: Transition[] | null,
    full: boolean,
    /** When only events with these names arrived: segments they cannot change are skipped. */
    added: readonly string[] | null = null,
  ): void {
    this.memo.reset();
    s.computedMemo = this.memo;
    try {
      this.evaluateSegments(s, segments, now, out, full, added);
    } finally {
      s.computedMemo = null;
    }
  }

  private evaluateSegments(
    s: ProfileState,
    segments: readonly CompiledSegment[],
    now: number,
    out: Transition[] | null,
    full: boolean,
    added: readonly string[] | null,
  ): void {
    // A full evaluation recomputes the wake-up from every timed segment; otherwise the timer
    // already set stays, moved earlier by the segments evaluated. (A skipped segment's wake-up can
    // only move later: the timer already set fires early, which is safe.)
    let wake: number | null = full || s.timerAt <= now ? null : s.timerAt;
    // Timed segments whose wake-up this pass worked out, marked with its number (no set to fill).
    const pass = full ? ++this.passes : 0;
    let timedDone = 0;
    // Its id is written out once for the pass, not once per frozen segment (a start-up recompute
    // holds back every segment while live traffic arrives).
    let skipped = false;
    // Written out once for all the segments it enters or leaves in this pass.
    let id: ProfileId | null = null;
    for (const seg of segments) {
      // Live inputs leave frozen segments alone; the silent pass of a recompute (out null) does not.
      if (out !== null && this.frozen.has(seg.key)) {
        if (!skipped) {
          id ??= s.id;
          this.skipped.add(id);
        }
        skipped = true;
        continue;
      }
      // A member of "did X" stays one when another X arrives; so does a non-member of "did not X".
      if (added !== null && this.unchangeable(seg, s.has(seg.order), added)) continue;
      let member: boolean;
      if (seg.timed) {
        // The result and when it could next change, in one pass over the facts.
        member = evaluateTimed(this.reg, seg.condition, s, now);
        wake = earliest(wake, lastChangeAt());
        if (full) {
          this.picked[seg.order] = pass;
          timedDone++;
        }
      } else member = evaluateCondition(this.reg, seg.condition, s, now);
      if (this.setMember(s, seg, member) && out !== null) {
        id ??= s.id;
        out.push({
          profile: id,
          key: seg.key,
          entered: member,
          at: now,
          userId: s.userId,
          anonymousId: s.anonymousId,
        });
      }
    }
    if (full && timedDone < this.reg.timed.length) {
      for (const seg of this.reg.timed) {
        if (this.picked[seg.order] !== pass)
          wake = earliest(wake, nextChange(this.reg, seg.condition, s, now));
      }
    }
    if (wake !== null && wake > now && wake !== s.timerAt) {
      s.timerAt = wake;
      this.timers.push(wake, s.record);
    } else if (wake === null) s.timerAt = 0;
  }

  private unchangeable(seg: CompiledSegment, member: boolean, added: readonly string[]): boolean {
    const want = member ? 'up' : 'down';
    for (const name of added) if (seg.monotone.get(name) !== want) return false;
    return true;
  }

  /** True when membership changed. */
  private setMember(s: ProfileState, seg: CompiledSegment, member: boolean): boolean {
    if (member === s.has(seg.order)) return false;
    s.set(seg.order, member);
    this.sizes.set(seg.key, (this.sizes.get(seg.key) ?? 0) + (member ? 1 : -1));
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
    for (const s of this.byRecord.filter((s) => s !== undefined)) {
      if (s.gone) continue;
      this.evaluateProfile(s, segments, now, null, false);
      if (++n % chunk === 0) yield chunk;
    }
    yield n % chunk;
  }

  /** Re-evaluates the profiles whose windows slid past an event by `now`. */
  fireDue(now: number): Transition[] {
    const out: Transition[] = [];
    for (;;) {
      const at = this.timers.peekAt();
      if (at > now) break;
      const s = this.byRecord[this.timers.peekWho()];
      this.timers.pop();
      // Superseded, or its profile forgotten (a record reused since holds a timer of its own).
      if (s === undefined || s.timerAt !== at) continue;
      s.timerAt = 0;
      this.evaluateProfile(s, this.reg.timed, now, out, true);
    }
    return out;
  }

  /** When the next timer is due, if any. */
  nextDue(): number | null {
    for (;;) {
      if (this.timers.size === 0) return null;
      const at = this.timers.peekAt();
      if (this.byRecord[this.timers.peekWho()]?.timerAt === at) return at;
      this.timers.pop();
    }
  }

  size(key: string): number {
    return this.sizes.get(key) ?? 0;
  }

  /** Members in profile-id order, after `cursor`. */
  members(
    key: string,
    limit: number,
    cursor: string | null,
  ): { members: ProfileId[]; cursor: string | null } {
    const order = this.records.order.get(key);
    if (order === undefined) return { members: [], cursor: null };
    const sorted = this.orderedRecords();
    const ids = this.records.ids;
    let lo = 0;
    if (cursor !== null) {
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ids.compareTo(sorted[mid]!, cursor) <= 0) lo = mid + 1;
        else hi = mid;
      }
    }
    const page: ProfileId[] = [];
    for (let k = lo; k < sorted.length; k++) {
      if (!this.byRecord[sorted[k]!]!.has(order)) continue;
      if (page.length === limit) return { members: page, cursor: page[page.length - 1]! };
      page.push(ids.idOf(sorted[k]!) as ProfileId);
    }
    return { members: page, cursor: null };
  }

  /**
   * Every live record in the order of its profile's id. New ids (time-ordered UUIDs) usually just
   * extend the list; entries of records let go since the last call are dropped first, so that the
   * list holds no record whose id has changed.
   */
  private orderedRecords(): number[] {
    const live = (r: number, gen: number) => this.generations[r] === gen;
    if (this.forgotten) {
      this.forgotten = false;
      const sorted: number[] = [];
      const sortedGen: number[] = [];
      for (let k = 0; k < this.sorted.length; k++) {
        if (!live(this.sorted[k]!, this.sortedGen[k]!)) continue;
        sorted.push(this.sorted[k]!);
        sortedGen.push(this.sortedGen[k]!);
      }
      this.sorted = sorted;
      this.sortedGen = sortedGen;
    }
    if (this.added.length === 0) return this.sorted;
    const ids = this.records.ids;
    const fresh = this.added.filter((r, k) => live(r, this.addedGen[k]!)).sort((a, b) => ids.compare(a, b));
    this.added = [];
    this.addedGen = [];
    const old = this.sorted;
    const gen = (r: number) => this.generations[r]!;
    if (old.length === 0 || (fresh.length > 0 && ids.compare(old[old.length - 1]!, fresh[0]!) < 0)) {
      for (const r of fresh) {
        old.push(r);
        this.sortedGen.push(gen(r));
      }
      return old;
    }
    const merged: number[] = [];
    let i = 0;
    let j = 0;
    while (i < old.length || j < fresh.length) {
      if (j >= fresh.length || (i < old.length && ids.compare(old[i]!, fresh[j]!) < 0))
        merged.push(old[i++]!);
      else merged.push(fresh[j++]!);
    }
    this.sorted = merged;
    this.sortedGen = merged.map(gen);
    return merged;
  }

  segmentsOf(id: ProfileId): string[] {
    const s = this.find(id);
    if (s === undefined || !s.inAny()) return [];
    return this.reg.segments
      .filter((seg) => s.has(seg.order) && !this.frozen.has(seg.key))
      .map((seg) => seg.key)
      .sort();
  }

  computedOf(id: ProfileId, now: number): JsonObject {
    const s = this.find(id);
    const out: JsonObject = {};
    for (const [key, def] of this.reg.computed) out[key] = s ? computeValue(def, s, now) : null;
    return out;
  }

  /** The state kept in memory, for metrics and benchmarks. */
  stats(): { profiles: number; facts: number; timers: number } {
    let facts = 0;
    for (const s of this.byRecord) facts += s?.length ?? 0;
    return { profiles: this.records.ids.size, facts, timers: this.timers.size };
  }
}
