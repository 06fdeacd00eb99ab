/**
 * The journey runtime's shell. It follows the event log from a durable cursor, feeds each event to
 * the runs of its profile and to the journeys it triggers, fires due run timers, and commits each
 * batch — new run states, entries, outbox rows, counters and the cursor — in one transaction of
 * the journey store. The decisions themselves are the pure step function's (step.ts).
 *
 * Ordering: the event batches and the timer batches run one at a time (one `Serial`), so one
 * profile's inputs are applied in order. Crash safety: the cursor is committed with what the
 * events caused, so after a crash the same events are read again and applied once; a timer is the
 * run's `wake_at`, committed with its state.
 */
import type { Channel } from '../channels/outbound.ts';
import type { Clock } from '../core/clock.ts';
import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import { asProfileId, type ProfileId, type WorkspaceId } from '../core/ids.ts';
import type { CommitListener, IngestService } from '../ingest/ingest-service.ts';
import type { SegmentService } from '../segments/segment-service.ts';
import type { CommitChanges, ScannedEvent, Store } from '../store/port.ts';
import { Serial } from '../store/serial.ts';
import { uuid7 } from '../store/uuid7.ts';
import { checkJourney, type Journey, listenedNames, type References } from './definition.ts';
import {
  begin,
  dateTarget,
  type EventSnapshot,
  inControlGroup,
  matchesEvent,
  needsProfile,
  onEvent,
  onTimer,
  type ProfileNow,
  type RunState,
  snapshot,
  stop,
  type Transition,
} from './step.ts';
import type {
  EntryRecord,
  JourneyBatch,
  JourneyRecord,
  JourneyStatus,
  JourneyStore,
  OutboxRow,
  StatRow,
} from './store/port.ts';

export interface JourneyLog {
  info(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface JourneyServiceDeps {
  readonly store: Store;
  readonly journeys: JourneyStore;
  readonly ingest: IngestService;
  readonly workspace: WorkspaceId;
  readonly clock: Clock;
  /** Segments and computed traits: references in definitions, and the profile's state now. */
  readonly segments: SegmentService | null;
  /** The template keys that exist (absent: templates are not checked). */
  readonly templateKeys?: () => Promise<ReadonlySet<string>>;
  readonly log?: JourneyLog;
  /** Events read per batch (default 2,000). */
  readonly batch?: number;
  /** Entry triggers ignore events older than this when read (default one day): importing history starts no journeys. */
  readonly entryMaxAgeMs?: number;
  /** Told about every committed batch (for latency measurements and the dispatcher). */
  readonly onCommitted?: (outbox: readonly OutboxRow[]) => void;
}

export class JourneyDefinitionErrors extends Error {
  constructor(readonly errors: { path: string; message: string }[]) {
    super(errors.map((e) => (e.path === '' ? e.message : `${e.path}: ${e.message}`)).join('; '));
  }
}

export class JourneyStateError extends Error {}

interface Compiled {
  readonly journey: Journey;
  readonly version: number;
  readonly needsProfile: boolean;
}

/** A batch being built: what the steps changed, to commit at once. */
class BatchBuilder {
  readonly runs = new Map<string, RunState>();
  readonly entries = new Map<string, EntryRecord>();
  readonly outbox: OutboxRow[] = [];
  readonly cancel: string[] = [];
  readonly stats: { journey: string; node: string | null; metric: string; n: number }[] = [];

  constructor(readonly ws: string) {}

  apply(t: Transition, c: Compiled, now: number): void {
    const s = t.state;
    this.runs.set(s.id, s);
    for (const d of t.stats) this.stats.push({ journey: s.journey, ...d });
    for (const e of t.effects) {
      if (e.kind === 'cancel_pending') this.cancel.push(s.id);
      else if (e.kind === 'send') {
        const message = {
          id: e.id,
          workspaceId: this.ws,
          profileId: s.profileId,
          channel: e.channel as Channel,
          template: e.template,
          category: e.category,
          ...(e.topic !== null ? { topic: e.topic } : {}),
          journey: { key: s.journey, version: c.version, runId: s.id, node: e.node },
          event: s.trigger as unknown as JsonObject | null,
          context: { arrivals: s.arrivals, variants: s.variants } as JsonObject,
          createdAt: now,
        };
        this.outbox.push(row(e.id, s, 'send', message as unknown as JsonObject, now));
      } else {
        this.outbox.push(
          row(
            e.id,
            s,
            'update',
            { traits: e.traits, increment: e.increment as JsonObject, node: e.node },
            now,
          ),
        );
      }
    }
  }

  stat(journey: string, metric: string, node: string | null = null): void {
    this.stats.push({ journey, node, metric, n: 1 });
  }

  get empty(): boolean {
    return (
      this.runs.size === 0 && this.entries.size === 0 && this.outbox.length === 0 && this.stats.length === 0
    );
  }

  build(cursor?: number): JourneyBatch {
    return {
      runs: [...this.runs.values()],
      entries: [...this.entries.values()],
      outbox: this.outbox,
      cancelRuns: this.cancel,
      stats: this.stats,
      ...(cursor !== undefined ? { cursor } : {}),
    };
  }
}

const row = (
  id: string,
  s: RunState,
  kind: 'send' | 'update',
  payload: JsonObject,
  now: number,
): OutboxRow => ({
  id,
  runId: s.id,
  journey: s.journey,
  profileId: s.profileId,
  kind,
  payload,
  status: 'pending',
  dueAt: now,
  attempts: 0,
  detail: null,
  createdAt: now,
});

const DAY = 86_400_000;

export class JourneyService {
  private readonly records = new Map<string, JourneyRecord>();
  private readonly versions = new Map<string, Compiled>();
  /** Published, active journeys by the event name that triggers them. */
  private triggers = new Map<string, Compiled[]>();
  private dateJourneys: Compiled[] = [];
  private listened = new Set<string>();
  private cursor = 0;
  private savedCursor = 0;
  private savedAt = 0;
  private readonly serial = new Serial();
  private pumpQueued = false;
  private wakeQueued = false;
  private armedAt: number | null = null;
  private cancelWake: (() => void) | null = null;
  private readonly dateQueue = new Set<string>();
  private readonly mergeQueue: { from: string; into: string }[] = [];
  private closed = false;
  private readonly batchSize: number;
  private readonly maxAge: number;
  /** Resolves when the runtime has caught up with the log after start. */
  ready: Promise<void> = Promise.resolve();

  private constructor(private readonly deps: JourneyServiceDeps) {
    this.batchSize = deps.batch ?? 2000;
    this.maxAge = deps.entryMaxAgeMs ?? DAY;
  }

  static async open(deps: JourneyServiceDeps): Promise<JourneyService> {
    const s = new JourneyService(deps);
    await deps.journeys.migrate();
    const ws = deps.workspace;
    for (const r of await deps.journeys.listJourneys(ws)) s.records.set(r.key, r);
    await s.rebuildTriggers();
    s.cursor = await deps.journeys.cursor(ws);
    s.savedCursor = s.cursor;
    if (s.cursor === 0 && s.records.size === 0) {
      // A new installation starts from the end of the log: history is not replayed into journeys.
      s.cursor = await deps.store.maxSeq(ws);
      await s.saveCursor();
    }
    deps.ingest.listen(s.onCommit);
    s.ready = (async () => {
      // Segments first: branches and segment exits read membership.
      await deps.segments?.ready.catch(() => undefined);
      await s.serial.run(() => s.pumpOnce());
      s.kick();
      await s.rearm();
      for (const c of s.dateJourneys) s.scheduleAll(c);
    })();
    s.ready.catch((err: unknown) => deps.log?.error({ err }, 'journeys could not start'));
    return s;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelWake?.();
    await this.serial.run(async () => {
      if (this.cursor !== this.savedCursor) await this.saveCursor();
    });
  }

  private async saveCursor(): Promise<void> {
    const cursor = this.cursor;
    await this.deps.journeys.commit(this.deps.workspace, {
      runs: [],
      entries: [],
      outbox: [],
      cancelRuns: [],
      stats: [],
      cursor,
    });
    this.savedCursor = cursor;
  }

  // ---------------------------------------------------------------------------------------------
  // Definitions
  // ---------------------------------------------------------------------------------------------

  private templateKeys: (() => Promise<ReadonlySet<string>>) | null = null;

  /** Checks `send` nodes' templates against these keys from now on. */
  useTemplates(keys: () => Promise<ReadonlySet<string>>): void {
    this.templateKeys = keys;
  }

  private async references(): Promise<References> {
    const seg = this.deps.segments;
    const keys = this.templateKeys ?? this.deps.templateKeys;
    const templates = keys ? await keys() : null;
    return {
      segmentExists: (k) => seg === null || seg.get('segments', k) !== null,
      computedExists: (k) => seg === null || seg.get('computed', k) !== null,
      templateExists: templates === null ? null : (k) => templates.has(k),
    };
  }

  /** Checks a definition without saving it. */
  async check(key: string, raw: unknown): Promise<Journey> {
    const checked = checkJourney(raw, key, await this.references());
    if (!checked.ok) throw new JourneyDefinitionErrors(checked.errors);
    return checked.value;
  }

  /** Saves a definition as a new version (a draft until published); unchanged → the latest version. */
  async put(key: string, raw: unknown): Promise<{ version: number; created: boolean; changed: boolean }> {
    await this.check(key, raw);
    const ws = this.deps.workspace;
    const body = { ...(raw as JsonObject) };
    delete body.key;
    const cur = this.records.get(key);
    if (cur) {
      const latest = await this.deps.journeys.getVersion(ws, key, cur.latestVersion);
      if (latest && JSON.stringify(latest.definition) === JSON.stringify(body))
        return { version: cur.latestVersion, created: false, changed: false };
    }
    const version = await this.deps.journeys.addVersion(ws, key, body, this.deps.clock.now());
    await this.refresh(key);
    return { version, created: cur === undefined, changed: true };
  }

  list(): JourneyRecord[] {
    return [...this.records.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  record(key: string): JourneyRecord | null {
    return this.records.get(key) ?? null;
  }

  versionsOf(key: string) {
    return this.deps.journeys.listVersions(this.deps.workspace, key);
  }

  version(key: string, version: number) {
    return this.deps.journeys.getVersion(this.deps.workspace, key, version);
  }

  /** Publishes a version (default the latest): new entries start on it; runs in flight stay on theirs. */
  async publish(key: string, version?: number): Promise<JourneyRecord> {
    const r = this.mustGet(key);
    const v = version ?? r.latestVersion;
    const stored = await this.deps.journeys.getVersion(this.deps.workspace, key, v);
    if (stored === null) throw new JourneyStateError(`journey '${key}' has no version ${v}`);
    // References may have gone since it was saved.
    await this.check(key, stored.definition);
    return this.transition(key, 'active', v);
  }

  async pause(key: string): Promise<JourneyRecord> {
    const r = this.mustGet(key);
    if (r.status !== 'active') throw new JourneyStateError(`journey '${key}' is ${r.status}, not active`);
    return this.transition(key, 'paused', r.publishedVersion);
  }

  async resume(key: string): Promise<JourneyRecord> {
    const r = this.mustGet(key);
    if (r.status !== 'paused') throw new JourneyStateError(`journey '${key}' is ${r.status}, not paused`);
    const out = await this.transition(key, 'active', r.publishedVersion);
    return out;
  }

  /** Stops the journey: no more entries, and every live run exits with reason `stopped`. */
  async stop(key: string): Promise<JourneyRecord> {
    const r = this.mustGet(key);
    if (r.status === 'stopped') return r;
    const out = await this.transition(key, 'stopped', r.publishedVersion);
    let after = '';
    for (;;) {
      const done = await this.serial.run(async () => {
        const runs = await this.deps.journeys.journeyRuns(this.deps.workspace, key, after, 1000);
        if (runs.length === 0) return true;
        const b = new BatchBuilder(this.deps.workspace);
        const now = this.deps.clock.now();
        for (const run of runs) {
          const c = await this.compiled(run.journey, run.version);
          if (c === null) continue;
          b.apply(stop(c.journey, run, 'stopped', { now, profile: null }), c, now);
        }
        await this.commit(b);
        after = runs[runs.length - 1]!.id;
        return false;
      });
      if (done) break;
    }
    return out;
  }

  private mustGet(key: string): JourneyRecord {
    const r = this.records.get(key);
    if (!r) throw new JourneyNotFound(key);
    return r;
  }

  private async transition(
    key: string,
    status: JourneyStatus,
    version: number | null,
  ): Promise<JourneyRecord> {
    await this.serial.run(async () => {
      // What came before this change is accounted for under the old definitions, durably.
      if (this.cursor !== this.savedCursor) await this.saveCursor();
      await this.deps.journeys.setStatus(this.deps.workspace, key, status, version, this.deps.clock.now());
      await this.refresh(key);
    });
    const r = this.records.get(key)!;
    if (status === 'active') {
      const c = await this.compiled(key, r.publishedVersion!);
      if (c?.journey.trigger.kind === 'date') this.scheduleAll(c);
      void this.rearm();
    }
    return r;
  }

  private async refresh(key: string): Promise<void> {
    const r = await this.deps.journeys.getJourney(this.deps.workspace, key);
    if (r) this.records.set(key, r);
    await this.rebuildTriggers();
  }

  private async rebuildTriggers(): Promise<void> {
    const triggers = new Map<string, Compiled[]>();
    const dates: Compiled[] = [];
    const listened = new Set<string>();
    for (const r of this.records.values()) {
      if (r.publishedVersion === null || r.status === 'draft') continue;
      // Stopped journeys' runs have all exited; paused ones still listen for goals and exits.
      const c = await this.compiled(r.key, r.publishedVersion);
      if (c === null) continue;
      for (const n of listenedNames(c.journey)) listened.add(n);
      if (r.status !== 'active') continue;
      const t = c.journey.trigger;
      if (t.kind === 'date') dates.push(c);
      else {
        const name =
          t.kind === 'event' ? t.match.event : t.on === 'entered' ? 'Segment Entered' : 'Segment Exited';
        const list = triggers.get(name) ?? [];
        list.push(c);
        triggers.set(name, list);
      }
    }
    // Runs on older versions listen for what their version listens for.
    for (const c of this.versions.values()) for (const n of listenedNames(c.journey)) listened.add(n);
    this.triggers = triggers;
    this.dateJourneys = dates;
    this.listened = listened;
  }

  /** A version, compiled (cached). Null when it no longer checks (a reference was deleted). */
  private async compiled(key: string, version: number): Promise<Compiled | null> {
    const id = `${key}@${version}`;
    const hit = this.versions.get(id);
    if (hit) return hit;
    const stored = await this.deps.journeys.getVersion(this.deps.workspace, key, version);
    if (stored === null) return null;
    const checked = checkJourney(stored.definition, key, {
      segmentExists: () => true,
      computedExists: () => true,
      templateExists: null,
    });
    if (!checked.ok) return null;
    const c = { journey: checked.value, version, needsProfile: needsProfile(checked.value) };
    this.versions.set(id, c);
    for (const n of listenedNames(c.journey)) this.listened.add(n);
    return c;
  }

  // ---------------------------------------------------------------------------------------------
  // Reads
  // ---------------------------------------------------------------------------------------------

  async stats(key: string): Promise<JourneyStats> {
    const r = this.mustGet(key);
    return summarize(r, await this.deps.journeys.stats(this.deps.workspace, key));
  }

  liveRuns(key: string, after: string, limit: number) {
    return this.deps.journeys.journeyRuns(this.deps.workspace, key, after, limit);
  }

  profileRuns(profileId: string, limit: number) {
    return this.deps.journeys.profileRuns(this.deps.workspace, profileId, limit);
  }

  run(id: string) {
    return this.deps.journeys.getRun(this.deps.workspace, id);
  }

  outboxOfRun(id: string) {
    return this.deps.journeys.outboxOfRun(this.deps.workspace, id);
  }

  /** Assignments of the experiment `journey:{key}`: each entered profile's group, at its first entry. */
  async *assignments(
    key: string,
  ): AsyncIterable<{ profileId: string; group: 'treatment' | 'control'; at: number }> {
    let after = '';
    for (;;) {
      const page = await this.deps.journeys.journeyEntries(this.deps.workspace, key, after, 5000);
      for (const e of page) yield { profileId: e.profileId, group: e.group, at: e.firstAt };
      if (page.length < 5000) return;
      after = page[page.length - 1]!.profileId;
    }
  }

  /**
   * Assignments of the experiment `journey:{key}:{node}`: the variant each run's profile got at a
   * `split` node, at the run's start (a profile's first run that reached the node counts).
   */
  async *variantAssignments(
    key: string,
    node: string,
  ): AsyncIterable<{ profileId: string; variant: string; at: number }> {
    const seen = new Set<string>();
    let after = '';
    for (;;) {
      const page = await this.deps.journeys.allRuns(this.deps.workspace, key, after, 5000);
      for (const r of page) {
        const v = r.variants[node];
        if (v === undefined || seen.has(r.profileId)) continue;
        seen.add(r.profileId);
        yield { profileId: r.profileId, variant: v, at: r.startedAt };
      }
      if (page.length < 5000) return;
      after = page[page.length - 1]!.id;
    }
  }

  async counts() {
    return { journeys: this.records.size, ...(await this.deps.journeys.counts(this.deps.workspace)) };
  }

  /** Resolves once every commit seen so far and every due timer has been processed. */
  async settled(): Promise<void> {
    await this.ready;
    for (let i = 0; i < 100; i++) {
      await this.serial.run(async () => undefined);
      if (!this.pumpQueued && !this.wakeQueued && this.dateQueue.size === 0) return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Following the log
  // ---------------------------------------------------------------------------------------------

  private readonly onCommit: CommitListener = (
    _events: readonly NormalizedEvent[],
    changes: CommitChanges,
  ) => {
    if (this.closed) return;
    for (const m of changes.merges) this.mergeQueue.push({ from: m.from, into: m.into });
    if (this.dateJourneys.length > 0) {
      for (const p of changes.profiles) if (p !== null) this.dateQueue.add(p);
    }
    this.kick();
  };

  /** Queues one pass over the new part of the log (at most one waits at a time). */
  private kick(): void {
    if (this.pumpQueued || this.closed) return;
    this.pumpQueued = true;
    this.serial
      .run(async () => {
        this.pumpQueued = false;
        await this.pumpOnce();
      })
      .catch((err: unknown) => {
        if (!this.closed) this.deps.log?.error({ err }, 'journeys could not follow the log');
      });
  }

  private async pumpOnce(): Promise<void> {
    if (this.closed) return;
    const ws = this.deps.workspace;
    for (const m of this.mergeQueue.splice(0)) await this.deps.journeys.reassign(ws, m.from, m.into);
    const upTo = await this.deps.store.maxSeq(ws);
    while (this.cursor < upTo && !this.closed) {
      const names = [...this.listened];
      let events: ScannedEvent[] = [];
      let last = upTo;
      if (names.length > 0) {
        events = await this.deps.store.scanEvents(ws, {
          afterSeq: this.cursor,
          upToSeq: upTo,
          limit: this.batchSize,
          names,
        });
        if (events.length === this.batchSize) last = events[events.length - 1]!.seq;
      }
      await this.applyEvents(events, last);
      this.cursor = last;
    }
    if (this.dateQueue.size > 0) {
      const ids = [...this.dateQueue];
      this.dateQueue.clear();
      await this.reschedule(ids);
    }
  }

  private async profileNow(id: string, cache: Map<string, ProfileNow | null>): Promise<ProfileNow | null> {
    if (cache.has(id)) return cache.get(id)!;
    let p = await this.deps.store.getProfile(this.deps.workspace, asProfileId(id));
    if (p !== null && this.deps.segments) p = await this.deps.segments.decorate(p);
    const out = p === null ? null : { traits: p.traits, computed: p.computed, segments: new Set(p.segments) };
    cache.set(id, out);
    return out;
  }

  private async applyEvents(events: readonly ScannedEvent[], cursor: number): Promise<void> {
    const ws = this.deps.workspace;
    const now = this.deps.clock.now();
    const b = new BatchBuilder(ws);
    if (events.length > 0) {
      const profileIds = [...new Set(events.map((e) => e.profileId as string))];
      const live = new Map<string, RunState[]>();
      for (const r of await this.deps.journeys.liveRuns(ws, profileIds)) {
        const list = live.get(r.profileId) ?? [];
        list.push(r);
        live.set(r.profileId, list);
      }
      // Entry records for the (journey, profile) pairs that may enter.
      const pairs: [string, string][] = [];
      for (const e of events) {
        for (const c of this.triggers.get(e.name ?? '') ?? []) pairs.push([c.journey.key, e.profileId]);
      }
      const entries = new Map<string, EntryRecord>();
      for (const x of await this.deps.journeys.entries(ws, pairs))
        entries.set(`${x.journey}\u0000${x.profileId}`, x);
      const profiles = new Map<string, ProfileNow | null>();

      for (const e of events) {
        const props = e.body.properties;
        const snap = snapshot(
          e.name ?? e.type,
          e.timestamp,
          String(e.body.messageId ?? ''),
          typeof props === 'object' && props !== null && !Array.isArray(props) ? (props as JsonObject) : {},
        );
        const runs = live.get(e.profileId) ?? [];
        for (let i = 0; i < runs.length; i++) {
          const run = runs[i]!;
          if (run.status !== 'active') continue;
          const c = await this.compiled(run.journey, run.version);
          if (c === null) continue;
          const paused = this.records.get(run.journey)?.status === 'paused';
          const env = {
            now,
            profile: c.needsProfile ? await this.profileNow(run.profileId, profiles) : null,
          };
          const t = onEvent(c.journey, run, snap, env);
          if (t === null || (paused && t.state.status === 'active')) continue;
          b.apply(t, c, now);
          runs[i] = t.state;
        }
        if (now - e.timestamp > this.maxAge) continue;
        for (const c of this.triggers.get(snap.name) ?? []) {
          if (!this.triggered(c.journey, snap)) continue;
          const entryKey = `${c.journey.key}\u0000${e.profileId}`;
          const running = runs.filter((r) => r.journey === c.journey.key && r.status === 'active').length;
          const t = await this.enter(c, e.profileId, snap, entries.get(entryKey), running, now, b, profiles);
          if (t === null) continue;
          runs.push(t.state);
          live.set(e.profileId, runs);
        }
        if (runs.length > 0) live.set(e.profileId, runs);
      }
      for (const x of b.entries.values()) entries.set(`${x.journey}\u0000${x.profileId}`, x);
    }
    await this.commit(b, cursor);
  }

  private triggered(j: Journey, ev: EventSnapshot): boolean {
    const t = j.trigger;
    if (t.kind === 'event') return matchesEvent(t.match, ev, ev.timestamp);
    if (t.kind === 'segment') return ev.properties.segment_key === t.key;
    return false;
  }

  /**
   * Admits a profile to a journey or not: re-entry policy, the concurrent-run limit, the control
   * group (held out: recorded, no run). Returns the new run's first transition when admitted.
   */
  private async enter(
    c: Compiled,
    profileId: string,
    trigger: EventSnapshot | null,
    entry: EntryRecord | undefined,
    running: number,
    now: number,
    b: BatchBuilder,
    profiles: Map<string, ProfileNow | null>,
  ): Promise<Transition | null> {
    const j = c.journey;
    const key = `${j.key}\u0000${profileId}`;
    const prior = b.entries.get(key) ?? entry;
    if (prior) {
      if (j.reentry.kind === 'once') return this.refused(b, j.key, 'already_entered');
      if (j.reentry.kind === 'cooldown' && now - prior.lastAt < j.reentry.ms)
        return this.refused(b, j.key, 'cooldown');
    }
    if (running >= j.maxConcurrent) return this.refused(b, j.key, 'concurrent_limit');
    const group = prior?.group ?? (inControlGroup(j, profileId) ? 'control' : 'treatment');
    b.entries.set(key, {
      journey: j.key,
      profileId,
      group,
      entries: (prior?.entries ?? 0) + 1,
      firstAt: prior?.firstAt ?? now,
      lastAt: now,
    });
    if (group === 'control') {
      b.stat(j.key, 'held_out');
      return null;
    }
    const env = { now, profile: c.needsProfile ? await this.profileNow(profileId, profiles) : null };
    const t = begin(j, c.version, { id: uuid7(now), profileId, trigger }, env);
    b.apply(t, c, now);
    return t;
  }

  private refused(b: BatchBuilder, journey: string, reason: string): null {
    b.stat(journey, `not_entered:${reason}`);
    return null;
  }

  private async commit(b: BatchBuilder, cursor?: number): Promise<void> {
    if (b.empty) {
      // Nothing happened: the position is written now and then, not on every commit of the log.
      // Reading a few irrelevant events again after a crash costs nothing.
      if (cursor === undefined || cursor === this.savedCursor) return;
      const t = performance.now();
      if (t - this.savedAt < 1000) return;
      this.savedAt = t;
    }
    await this.deps.journeys.commit(this.deps.workspace, b.build(cursor));
    if (cursor !== undefined) this.savedCursor = cursor;
    let earliest: number | null = null;
    for (const r of b.runs.values()) {
      if (r.wakeAt !== null && (earliest === null || r.wakeAt < earliest)) earliest = r.wakeAt;
    }
    if (earliest !== null && (this.armedAt === null || earliest < this.armedAt)) this.arm(earliest);
    if (b.outbox.length > 0) this.deps.onCommitted?.(b.outbox);
  }

  // ---------------------------------------------------------------------------------------------
  // Timers
  // ---------------------------------------------------------------------------------------------

  private pausedKeys(): string[] {
    const out: string[] = [];
    for (const r of this.records.values()) if (r.status === 'paused') out.push(r.key);
    return out;
  }

  private async rearm(): Promise<void> {
    const next = await this.deps.journeys.nextWake(this.deps.workspace, this.pausedKeys());
    this.cancelWake?.();
    this.cancelWake = null;
    this.armedAt = null;
    if (next !== null) this.arm(next);
  }

  private arm(at: number): void {
    if (this.closed) return;
    this.cancelWake?.();
    this.armedAt = at;
    this.cancelWake = this.deps.clock.at(at, () => {
      this.cancelWake = null;
      this.armedAt = null;
      this.queueWake();
    });
  }

  private queueWake(): void {
    if (this.wakeQueued || this.closed) return;
    this.wakeQueued = true;
    this.serial
      .run(async () => {
        this.wakeQueued = false;
        const more = await this.fireDue();
        if (more) this.queueWake();
        else await this.rearm();
      })
      .catch((err: unknown) => {
        if (!this.closed) this.deps.log?.error({ err }, 'journey timers failed');
      });
  }

  /** Fires one batch of due timers; true when more are due. */
  private async fireDue(): Promise<boolean> {
    if (this.closed) return false;
    const ws = this.deps.workspace;
    const now = this.deps.clock.now();
    const due = await this.deps.journeys.dueRuns(ws, now, this.batchSize, this.pausedKeys());
    if (due.length === 0) return false;
    const b = new BatchBuilder(ws);
    const profiles = new Map<string, ProfileNow | null>();
    const scheduled = due.filter((r) => r.status === 'scheduled');
    const entries = new Map<string, EntryRecord>();
    for (const x of await this.deps.journeys.entries(
      ws,
      scheduled.map((r) => [r.journey, r.profileId] as const),
    ))
      entries.set(`${x.journey}\u0000${x.profileId}`, x);
    const running =
      scheduled.length === 0
        ? []
        : await this.deps.journeys.liveRuns(
            ws,
            scheduled.map((r) => r.profileId),
          );
    for (const run of due) {
      if (run.status === 'scheduled') {
        await this.fireScheduled(run, now, b, entries, running, profiles);
        continue;
      }
      const c = await this.compiled(run.journey, run.version);
      if (c === null) {
        b.runs.set(run.id, { ...run, status: 'exited', node: null, wakeAt: null, reason: 'version_missing' });
        continue;
      }
      const env = { now, profile: c.needsProfile ? await this.profileNow(run.profileId, profiles) : null };
      const t = onTimer(c.journey, run, env);
      if (t === null) {
        b.runs.set(run.id, { ...run, wakeAt: null });
        continue;
      }
      b.apply(t, c, now);
    }
    await this.commit(b);
    return due.length === this.batchSize;
  }

  // ---------------------------------------------------------------------------------------------
  // Date triggers: one scheduled run per (journey, profile), due at the profile's date
  // ---------------------------------------------------------------------------------------------

  private async fireScheduled(
    run: RunState,
    now: number,
    b: BatchBuilder,
    entries: Map<string, EntryRecord>,
    live: RunState[],
    profiles: Map<string, ProfileNow | null>,
  ): Promise<void> {
    const r = this.records.get(run.journey);
    const c =
      r?.publishedVersion != null && r.status === 'active'
        ? await this.compiled(r.key, r.publishedVersion)
        : null;
    if (c === null || c.journey.trigger.kind !== 'date') {
      b.runs.set(run.id, {
        ...run,
        status: 'exited',
        wakeAt: null,
        reason: 'journey_inactive',
        updatedAt: now,
      });
      return;
    }
    const profile = await this.profileNow(run.profileId, profiles);
    // Fire only if the date still says so; otherwise move the schedule.
    const target = profile === null ? null : dateTarget(c.journey.trigger.date, profile, run.startedAt);
    if (target !== null && target > now + 1000) {
      b.runs.set(run.id, { ...run, wakeAt: target, updatedAt: now });
      return;
    }
    const trigger = snapshot('Date Reached', now, run.id, {
      journey: c.journey.key,
      date: c.journey.trigger.date.name,
    });
    const running = live.filter(
      (x) => x.profileId === run.profileId && x.journey === run.journey && x.status === 'active',
    );
    await this.enter(
      c,
      run.profileId,
      trigger,
      entries.get(`${run.journey}\u0000${run.profileId}`),
      running.length,
      now,
      b,
      profiles,
    );
    // Yearly dates come round again.
    const next =
      c.journey.trigger.date.yearly && profile !== null
        ? dateTarget(c.journey.trigger.date, profile, now + 1000)
        : null;
    b.runs.set(run.id, {
      ...run,
      status: next === null ? 'completed' : 'scheduled',
      wakeAt: next,
      startedAt: next === null ? run.startedAt : now + 1000,
      reason: next === null ? 'entered' : null,
      updatedAt: now,
    });
  }

  /** Re-reads the dates of these profiles for every date-triggered journey. */
  private async reschedule(profileIds: readonly string[]): Promise<void> {
    if (this.dateJourneys.length === 0 || profileIds.length === 0) return;
    const ws = this.deps.workspace;
    const now = this.deps.clock.now();
    const b = new BatchBuilder(ws);
    const live = await this.deps.journeys.liveRuns(ws, profileIds);
    const byId = new Map(live.map((r) => [r.id, r]));
    const profiles = new Map<string, ProfileNow | null>();
    for (const id of profileIds) {
      const p = await this.profileNow(id, profiles);
      for (const c of this.dateJourneys) {
        if (c.journey.trigger.kind !== 'date') continue;
        const runId = `date:${c.journey.key}:${id}`;
        const cur = byId.get(runId);
        const target = p === null ? null : dateTarget(c.journey.trigger.date, p, now);
        if (target === null || target < now) {
          if (cur?.status === 'scheduled')
            b.runs.set(runId, { ...cur, status: 'exited', wakeAt: null, reason: 'no_date', updatedAt: now });
          continue;
        }
        if (cur?.status === 'scheduled' && cur.wakeAt === target) continue;
        b.runs.set(runId, {
          id: runId,
          journey: c.journey.key,
          version: c.version,
          profileId: id,
          status: 'scheduled',
          node: null,
          wakeAt: target,
          startedAt: now,
          updatedAt: now,
          trigger: null,
          steps: 0,
          arrivals: {},
          variants: {},
          reason: null,
        });
      }
    }
    await this.commit(b);
  }

  /** Schedules a date-triggered journey for every profile (at publish and at start), in pages. */
  private scheduleAll(c: Compiled): void {
    const ws = this.deps.workspace;
    let after = '';
    const page = async (): Promise<void> => {
      if (this.closed) return;
      const profiles = await this.deps.store.scanProfiles(ws, after, 1000);
      if (profiles.length === 0) return;
      after = profiles[profiles.length - 1]!.id;
      await this.serial.run(() => this.reschedule(profiles.map((p) => p.id)));
      if (profiles.length === 1000) return page();
    };
    page().catch((err: unknown) =>
      this.deps.log?.error({ err, journey: c.journey.key }, 'date schedule failed'),
    );
  }
}

export class JourneyNotFound extends Error {
  constructor(readonly key: string) {
    super(`no journey '${key}'`);
  }
}

export interface NodeStats {
  reached: number;
  passed: number;
  waiting: number;
  [metric: string]: number;
}

export interface JourneyStats {
  key: string;
  status: JourneyStatus;
  publishedVersion: number | null;
  entered: number;
  heldOut: number;
  converted: number;
  completed: number;
  waiting: number;
  exited: Record<string, number>;
  notEntered: Record<string, number>;
  nodes: Record<string, NodeStats>;
}

function summarize(r: JourneyRecord, rows: readonly StatRow[]): JourneyStats {
  const s: JourneyStats = {
    key: r.key,
    status: r.status,
    publishedVersion: r.publishedVersion,
    entered: 0,
    heldOut: 0,
    converted: 0,
    completed: 0,
    waiting: 0,
    exited: {},
    notEntered: {},
    nodes: {},
  };
  for (const row of rows) {
    if (row.node === null) {
      if (row.metric === 'entered') s.entered += row.n;
      else if (row.metric === 'held_out') s.heldOut += row.n;
      else if (row.metric === 'converted') s.converted += row.n;
      else if (row.metric === 'completed') s.completed += row.n;
      else if (row.metric.startsWith('exited:')) s.exited[row.metric.slice(7)] = row.n;
      else if (row.metric.startsWith('not_entered:')) s.notEntered[row.metric.slice(12)] = row.n;
      continue;
    }
    let n = s.nodes[row.node];
    if (n === undefined) {
      n = { reached: 0, passed: 0, waiting: 0 };
      s.nodes[row.node] = n;
    }
    const metric = row.metric === 'timed_out' ? 'timedOut' : row.metric;
    n[metric] = (n[metric] ?? 0) + row.n;
    if (row.metric === 'waiting') s.waiting += row.n;
  }
  return s;
}

export type { ProfileId };
