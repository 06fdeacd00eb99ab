import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import { hash53Tuple } from '../core/hash53.ts';
import type { ProfileId, SourceId, WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import type { CommitListener, IngestService } from '../ingest/ingest-service.ts';
import { type NormalizeContext, systemTrack } from '../ingest/normalize.ts';
import type { CommitChanges, Store } from '../store/port.ts';
import { Serial } from '../store/serial.ts';
import { compactCommit, compactScanned } from './compact.ts';
import { checkComputedTrait, checkSegment, type DefinitionError } from './definition.ts';
import { SEGMENT_ENTERED, SEGMENT_EXITED } from './engine.ts';
import {
  type Changes,
  compileDefinitions,
  type DefinitionSet,
  type EngineHost,
  LocalEngineHost,
  type Outcome,
} from './engine-host.ts';
import { Registry } from './registry.ts';

export interface StoredDefinition {
  readonly definition: unknown;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type DefinitionKind = 'segments' | 'computed';

export interface RecomputeProgress {
  readonly keys: string[];
  readonly phase: 'scanning' | 'evaluating';
  /** Events scanned so far and the sequence number the scan runs up to. */
  readonly scanned: number;
  readonly profilesEvaluated: number;
  readonly startedAt: string;
}

export interface SegmentLog {
  info(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface SegmentServiceDeps {
  readonly store: Store;
  readonly ingest: IngestService;
  readonly workspace: WorkspaceId;
  readonly clock: Clock;
  /** The source the service's own `Segment Entered` / `Segment Exited` events are stored under. */
  readonly systemSource: SourceId;
  readonly log?: SegmentLog;
  /** Events per page of a scan of the log. */
  readonly scanPage?: number;
  /** Told of every batch of membership changes once it is durably announced. */
  readonly observer?: SegmentObserver;
  /** Where the engine runs (default: in this thread). */
  readonly host?: EngineHost;
}

export interface SegmentObserver {
  /**
   * `seconds` runs from the moment the cause was known (the acknowledged commit reached the
   * engine, or a window's timer fired) to the commit of the `Segment Entered` / `Exited` events;
   * `evaluatedSeconds` is its first part, until the engine answered with the changes. The rest is
   * the store's: waiting for the writer, and the commit.
   */
  announced(seconds: number, entered: number, exited: number, evaluatedSeconds: number): void;
}

/** What the last full or partial recompute did. */
export interface RecomputeReport {
  readonly segments: string[];
  readonly eventsScanned: number;
  readonly profiles: number;
  readonly ms: number;
  readonly finishedAt: string;
}

export class DefinitionErrors extends Error {
  constructor(readonly errors: DefinitionError[]) {
    super(errors.map((e) => `${e.path || '(definition)'}: ${e.message}`).join('; '));
  }
}

export class StillReferenced extends Error {
  constructor(readonly by: string[]) {
    super(`still referred to by segment${by.length > 1 ? 's' : ''} ${by.join(', ')}`);
  }
}

const SETTING: Record<DefinitionKind, string> = { segments: 'segments', computed: 'computed_traits' };
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Real-time segments and computed traits for one workspace: definitions stored in the workspace's
 * settings, membership kept by a `SegmentEngine` fed with every commit, full recomputes that scan
 * the log without stopping ingestion, timers for windows sliding past events, and membership
 * changes announced as `Segment Entered` / `Segment Exited` events through the normal ingest path.
 *
 * Membership itself is never persisted: it is a function of the log, recomputed at start. The
 * first computation of a segment (new, edited, or at start) is silent; every change after it is
 * announced once (the message id is made of segment, profile, time and direction, so a retried
 * announcement is stored once). A change whose announcement had not been committed when the
 * process died is not announced after the restart, though membership is exact.
 */
export class SegmentService {
  private readonly host: EngineHost;
  /** The definitions in force, compiled (the engine holds the same). */
  private registry: Registry = Registry.EMPTY;
  /**
   * True until the first definition is in force: commits are not followed at all (a workspace
   * without segments or computed traits pays nothing for them), and the first definition is
   * computed from the whole log, as at start.
   */
  private pristine = true;
  /** Segments the engine holds back while they are recomputed. */
  private readonly frozen = new Set<string>();
  /** The properties of each segment's announcements (see `propertiesOf`). */
  private readonly announced = new Map<string, JsonObject>();
  private readonly definitions: Record<DefinitionKind, Map<string, StoredDefinition>> = {
    segments: new Map(),
    computed: new Map(),
  };
  private readonly changes = new Serial();
  private progress: RecomputeProgress | null = null;
  private lastRecompute: RecomputeReport | null = null;
  private cancelTimer: (() => void) | null = null;
  private armedAt: number | null = null;
  private closed = false;
  /** Resolves when the first full computation after start is done. */
  ready: Promise<void> = Promise.resolve();
  private readonly scanPage: number;

  private constructor(private readonly deps: SegmentServiceDeps) {
    this.host = deps.host ?? new LocalEngineHost();
    this.scanPage = deps.scanPage ?? 5000;
  }

  /** Loads the definitions, starts following commits and starts the first full computation. */
  static async open(deps: SegmentServiceDeps): Promise<SegmentService> {
    const service = new SegmentService(deps);
    for (const kind of ['segments', 'computed'] as const) {
      const raw = await deps.store.getSetting(deps.workspace, SETTING[kind]);
      if (raw !== null) {
        for (const [key, d] of Object.entries(JSON.parse(raw) as Record<string, StoredDefinition>)) {
          service.definitions[kind].set(key, d);
        }
      }
    }
    const registry = service.compile(service.definitions.segments, service.definitions.computed);
    if (!(registry instanceof Registry)) throw new DefinitionErrors(registry);
    deps.ingest.listen(service.onCommit);
    service.ready = service.changes.run(() => service.recompute(registry, null));
    service.ready.catch((err: unknown) => deps.log?.error({ err }, 'segments could not be computed'));
    return service;
  }

  /** Stops following commits and timers; the engine's state is dropped. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelTimer?.();
    await this.host.close();
  }

  /** The definitions in force, compiled. */
  get compiled(): Registry {
    return this.registry;
  }

  // ---------------------------------------------------------------------------------------------
  // Definitions
  // ---------------------------------------------------------------------------------------------

  private compile(
    segments: ReadonlyMap<string, StoredDefinition>,
    computed: ReadonlyMap<string, StoredDefinition>,
  ): Registry | DefinitionError[] {
    return compileDefinitions(definitionSet(segments, computed));
  }

  list(kind: DefinitionKind): { key: string; stored: StoredDefinition }[] {
    return [...this.definitions[kind]]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, stored]) => ({ key, stored }));
  }

  get(kind: DefinitionKind, key: string): StoredDefinition | null {
    return this.definitions[kind].get(key) ?? null;
  }

  /**
   * Creates or replaces a definition. Throws `DefinitionErrors` (paths relative to the definition)
   * when it is invalid or would refer to something missing or form a cycle. Resolves once the new
   * definitions are in force; the recompute they need runs on, and `recomputed` resolves at its end.
   */
  async put(
    kind: DefinitionKind,
    key: string,
    definition: unknown,
  ): Promise<{ created: boolean; recomputed: Promise<void> }> {
    const checked = kind === 'segments' ? checkSegment(definition) : checkComputedTrait(definition);
    if (!checked.ok) throw new DefinitionErrors(checked.errors);
    let recomputed!: Promise<void>;
    const created = await this.changes.run(async () => {
      const current = this.definitions[kind];
      const before = current.get(key);
      const now = new Date(this.deps.clock.now()).toISOString();
      const next = new Map(current);
      next.set(key, { definition, createdAt: before?.createdAt ?? now, updatedAt: now });
      const all = { ...this.definitions, [kind]: next };
      const registry = this.compile(all.segments, all.computed);
      if (!(registry instanceof Registry)) throw new DefinitionErrors(registry.map(relativeTo(kind, key)));
      await this.save(kind, next);
      this.definitions[kind] = next;
      const touched = this.dependents(registry, kind, key);
      recomputed = this.changes.run(() => this.recompute(registry, touched));
      return before === undefined;
    });
    return { created, recomputed };
  }

  /** Deletes a definition; throws `StillReferenced` when a segment refers to it. False when missing. */
  async delete(kind: DefinitionKind, key: string): Promise<boolean> {
    return this.changes.run(async () => {
      const current = this.definitions[kind];
      if (!current.has(key)) return false;
      const users = this.registry.segments
        .filter((s) => s.key !== key && s.uses.has(`${kind}:${key}`))
        .map((s) => s.key);
      if (users.length > 0) throw new StillReferenced(users);
      const next = new Map(current);
      next.delete(key);
      const all = { ...this.definitions, [kind]: next };
      const registry = this.compile(all.segments, all.computed);
      if (!(registry instanceof Registry)) throw new DefinitionErrors(registry);
      await this.save(kind, next);
      this.definitions[kind] = next;
      this.registry = registry;
      await this.host.setDefinitions(definitionSet(this.definitions.segments, this.definitions.computed), []);
      return true;
    });
  }

  private async save(kind: DefinitionKind, defs: ReadonlyMap<string, StoredDefinition>): Promise<void> {
    await this.deps.store.setSetting(
      this.deps.workspace,
      SETTING[kind],
      JSON.stringify(Object.fromEntries(defs)),
    );
  }

  /** The segments to recompute when a definition changes: itself and every segment using it. */
  private dependents(registry: Registry, kind: DefinitionKind, key: string): Set<string> {
    const out = new Set<string>();
    for (const s of registry.segments) {
      if ((kind === 'segments' && s.key === key) || s.uses.has(`${kind}:${key}`)) out.add(s.key);
    }
    return out;
  }

  status(key: string): { status: 'computing' | 'ready'; progress: RecomputeProgress | null } {
    const computing = this.frozen.has(key) || (this.progress?.keys.includes(key) ?? false);
    return { status: computing ? 'computing' : 'ready', progress: computing ? this.progress : null };
  }

  // ---------------------------------------------------------------------------------------------
  // Recompute
  // ---------------------------------------------------------------------------------------------

  /**
   * Brings the engine to a new registry. `touched` null means everything (start-up): every profile
   * and every event the definitions read is scanned. Otherwise only event names whose projection
   * grew are scanned again, and only the touched segments (plus those reading a rescanned name) are
   * held back until the end. Commits keep flowing throughout: the scan covers the log up to a mark
   * taken with no commit in flight, and every later commit reaches the engine live.
   */
  private async recompute(next: Registry, touched: Set<string> | null): Promise<void> {
    const { store, workspace: ws, clock } = this.deps;
    const old = this.registry;
    const defs = definitionSet(this.definitions.segments, this.definitions.computed);
    if (this.pristine && next.segments.length === 0 && next.computed.size === 0) {
      // Nothing to compute: the engine stays empty and commits stay unfollowed.
      this.registry = next;
      return;
    }
    // The engine followed nothing so far: everything is scanned, as at start.
    const full = touched === null || this.pristine;
    const rescan = new Set<string>();
    for (const [name, p] of next.projections) {
      const before = old.projections.get(name);
      const same =
        before !== undefined &&
        before.horizonMs >= p.horizonMs &&
        before.paths.length === p.paths.length &&
        before.paths.every((x, i) => x.parts.join('.') === p.paths[i]!.parts.join('.'));
      if (full || !same) rescan.add(name);
    }
    const newTraits = full || [...next.traitNames].some((t) => !old.traitNames.has(t));
    const held = new Set(touched ?? next.segments.map((s) => s.key));
    for (const s of next.segments) {
      if ([...s.events].some((e) => rescan.has(e)) || (newTraits && s.traits.size > 0)) held.add(s.key);
    }
    const startedAt = new Date(clock.now()).toISOString();
    this.progress = {
      keys: [...held].sort(),
      phase: 'scanning',
      scanned: 0,
      profilesEvaluated: 0,
      startedAt,
    };
    const started = performance.now();
    let scannedTotal = 0;

    if (rescan.size > 0 || newTraits) {
      let upTo = 0;
      await this.deps.ingest.exclusive(async () => {
        upTo = await store.maxSeq(ws);
        // Commits after this point are compacted with the new registry and reach the engine after it.
        this.install(next, held, defs);
        this.background(this.host.dropFacts([...rescan]));
      });
      if (newTraits) {
        let after = '';
        for (;;) {
          const page = await store.scanProfiles(ws, after, this.scanPage);
          await this.host.touch(page.map((p) => [p.id, p.traits] as const));
          if (page.length < this.scanPage) break;
          after = page[page.length - 1]!.id;
          await yieldToIo();
        }
      }
      const names = [...rescan];
      let after = 0;
      let scanned = 0;
      while (names.length > 0 && after < upTo) {
        const page = await store.scanEvents(ws, {
          afterSeq: after,
          upToSeq: upTo,
          limit: this.scanPage,
          names,
        });
        const facts = [];
        for (const e of page) {
          const f = compactScanned(next, e);
          if (f !== null) facts.push(f);
        }
        await this.host.addFacts(facts, clock.now());
        scanned += page.length;
        scannedTotal = scanned;
        this.progress = { ...this.progress, scanned };
        if (page.length < this.scanPage) break;
        after = page[page.length - 1]!.seq;
        await yieldToIo();
      }
    } else {
      this.install(next, held, defs);
    }

    // The silent pass sets every profile's starting point; profiles that events reached meanwhile
    // are evaluated again on release, and what changed for them since is announced.
    this.progress = { ...this.progress, phase: 'evaluating' };
    const evaluated = await this.host.evaluateAll([...held], clock.now());
    this.progress = { ...this.progress, profilesEvaluated: evaluated };
    const released = await this.host.release([...held], clock.now());
    for (const k of held) this.frozen.delete(k);
    this.handle(released);
    this.progress = null;
    this.lastRecompute = {
      segments: [...held].sort(),
      eventsScanned: scannedTotal,
      profiles: evaluated,
      ms: Math.round(performance.now() - started),
      finishedAt: new Date(clock.now()).toISOString(),
    };
    this.deps.log?.info(this.lastRecompute, 'segments computed');
  }

  // ---------------------------------------------------------------------------------------------
  // Live
  // ---------------------------------------------------------------------------------------------

  /** Installs compiled definitions here and in the engine (calls to the engine keep their order). */
  private install(next: Registry, held: ReadonlySet<string>, defs: DefinitionSet): void {
    this.registry = next;
    this.pristine = false;
    for (const k of held) this.frozen.add(k);
    this.background(this.host.setDefinitions(defs, [...held]));
  }

  private readonly onCommit: CommitListener = (
    events: readonly NormalizedEvent[],
    changes: CommitChanges,
  ) => {
    if (this.closed || this.pristine) return;
    const ws = this.deps.workspace;
    if (events.length === 0 || (events[0]!.workspaceId !== ws && !events.some((e) => e.workspaceId === ws)))
      return;
    let commit: ReturnType<typeof compactCommit>;
    try {
      commit = compactCommit(this.registry, events, changes, this.deps.systemSource);
    } catch (err) {
      this.deps.log?.error({ err }, 'segments could not follow a commit');
      return;
    }
    const acknowledged = performance.now();
    this.host.applyCommit(commit, this.deps.clock.now()).then(
      (o) => this.handle(o, acknowledged),
      (err: unknown) => {
        if (!this.closed) this.deps.log?.error({ err }, 'segments could not follow a commit');
      },
    );
  };

  /** Forgets an erased profile. */
  forget(id: ProfileId): void {
    this.background(this.host.forget(id));
  }

  /** Calls whose answer nothing waits for: a failure is logged (the next call fails too). */
  private background(p: Promise<unknown>): void {
    p.catch((err: unknown) => {
      if (!this.closed) this.deps.log?.error({ err }, 'the segment engine failed');
    });
  }

  /** `since`: when the cause was known (the commit acknowledged, the timer fired). */
  private handle(o: Outcome, since = performance.now()): void {
    if (this.closed) return;
    this.announce(o.changes, since);
    this.armTimer(o.nextDue);
  }

  private armTimer(due: number | null): void {
    if (this.closed || due === this.armedAt) return;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.armedAt = due;
    if (due === null) return;
    this.cancelTimer = this.deps.clock.at(due, () => {
      this.armedAt = null;
      this.cancelTimer = null;
      if (this.closed) return;
      const fired = performance.now();
      this.host.fireDue(this.deps.clock.now()).then(
        (o) => this.handle(o, fired),
        (err: unknown) => {
          if (!this.closed) this.deps.log?.error({ err }, 'segment timers failed');
        },
      );
    });
  }

  private announce(changes: Changes, started = performance.now()): void {
    const count = changes.profiles.length;
    if (count === 0) return;
    const answered = performance.now();
    let entered = 0;
    for (let i = 0; i < count; i++) if (changes.entered[i]) entered++;
    this.submit(changes).then(
      () => {
        this.deps.observer?.announced(
          (performance.now() - started) / 1000,
          entered,
          count - entered,
          (answered - started) / 1000,
        );
      },
      (err: unknown) => {
        this.deps.log?.error({ err, count }, 'segment changes could not be stored');
      },
    );
  }

  /** What the engine holds and what the last recompute did (for status pages and benchmarks). */
  async stats() {
    return {
      ...(await this.host.stats()),
      segments: this.definitions.segments.size,
      computedTraits: this.definitions.computed.size,
      recomputing: this.progress,
      lastRecompute: this.lastRecompute,
    };
  }

  /**
   * Stores the changes as events. Nothing here waits for the commit holding on to the transitions
   * or anything else it no longer needs: under load a commit takes long enough for what it keeps
   * alive to be copied by the request thread's young collections and promoted.
   */
  private submit(changes: Changes): Promise<unknown> {
    try {
      for (let i = 0; i < changes.profiles.length; i++) {
        if (changes.userIds[i] === null && changes.anonymousIds[i] === null)
          return this.identified(changes).then((c) => this.storeAnnouncements(c));
      }
      return this.storeAnnouncements(changes);
    } catch (err) {
      // A failure is the caller's to log, as a rejection, like a failed commit.
      return Promise.reject(err);
    }
  }

  /**
   * The changes with the identities the engine did not know read from the store. A change whose
   * profile is gone, or has no identity, keeps none and is left out of the announcements.
   */
  private async identified(changes: Changes): Promise<Changes> {
    const { workspace, store } = this.deps;
    for (let i = 0; i < changes.profiles.length; i++) {
      if (changes.userIds[i] !== null || changes.anonymousIds[i] !== null) continue;
      const p = await store.getProfile(workspace, changes.profiles[i]!);
      if (p === null) continue;
      changes.userIds[i] = p.userIds[0] ?? null;
      changes.anonymousIds[i] = p.anonymousIds[0] ?? null;
    }
    return changes;
  }

  private storeAnnouncements(changes: Changes): Promise<unknown> {
    const { workspace, systemSource, clock } = this.deps;
    const ctx: NormalizeContext = {
      workspaceId: workspace,
      sourceId: systemSource,
      receivedAt: clock.now(),
      newMessageId: randomUUID,
    };
    const properties = changes.keys.map((k) => this.propertiesOf(k));
    const events: NormalizedEvent[] = [];
    for (let i = 0; i < changes.profiles.length; i++) {
      const userId = changes.userIds[i]!;
      const anonymousId = changes.anonymousIds[i]!;
      if (userId === null && anonymousId === null) continue;
      const entered = changes.entered[i]!;
      const at = changes.at[i]!;
      events.push(
        systemTrack(
          {
            event: entered ? SEGMENT_ENTERED : SEGMENT_EXITED,
            userId,
            // A person with a user id is announced by it alone, as a client would send it.
            anonymousId: userId === null ? anonymousId : null,
            properties: properties[changes.key[i]!]!,
            at,
            messageId: announcementId(changes.keys[changes.key[i]!]!, changes.profiles[i]!, at, entered),
            context: ANNOUNCER,
          },
          ctx,
        ),
      );
    }
    return events.length > 0 ? this.deps.ingest.submit(events) : Promise.resolve();
  }

  /** An announcement's properties, one frozen object per segment (its JSON is then made once). */
  private propertiesOf(key: string): JsonObject {
    let p = this.announced.get(key);
    if (p === undefined) {
      p = Object.freeze({ segment_key: key }) as JsonObject;
      this.announced.set(key, p);
    }
    return p;
  }

  // ---------------------------------------------------------------------------------------------
  // Reads
  // ---------------------------------------------------------------------------------------------

  /** The profile with its segments and computed traits filled in. */
  async decorate(p: Profile): Promise<Profile> {
    return { ...p, ...(await this.host.profileView(p.id, this.deps.clock.now())) };
  }

  /** Members of a segment in profile-id order, after `cursor`. */
  members(key: string, limit: number, cursor: string | null) {
    return this.host.members(key, limit, cursor);
  }

  /**
   * Who the profiles are: ids, identifiers and traits, in the order asked for. A profile erased or
   * merged away since the page was read is left out.
   */
  async whoAre(ids: readonly ProfileId[]): Promise<MemberProfile[]> {
    const { store, workspace } = this.deps;
    const out: MemberProfile[] = [];
    for (const id of ids) {
      const p = await store.getProfile(workspace, id);
      if (p === null || p.id !== id) continue;
      out.push({
        id: p.id,
        userIds: p.userIds,
        anonymousIds: p.anonymousIds,
        identifiers: p.identifiers,
        traits: p.traits,
      });
    }
    return out;
  }

  size(key: string): Promise<number> {
    return this.host.size(key);
  }

  sizes(): Promise<Record<string, number>> {
    return this.host.sizes();
  }
}

/** A member as a page of members describes it. */
export interface MemberProfile {
  readonly id: ProfileId;
  readonly userIds: readonly string[];
  readonly anonymousIds: readonly string[];
  readonly identifiers: Readonly<Record<string, readonly string[]>>;
  readonly traits: JsonObject;
}

/**
 * An announcement's message id: the same change (segment, profile, time, direction) always gets
 * the same one, so a change announced twice is stored once. Two 53-bit hashes of the four, in 18
 * characters after `sg_`: the id is stored twice in each announcement's row (in the message and
 * in its own column), and the 80–100 characters of the four written out made an announcement's
 * row a fifth longer than a client's usual event, which the writer, the checkpoint and the index
 * pay for (docs/benchmarks.md). Their chance of naming two changes alike is about one in 10^14
 * even after a billion announcements; the message itself says all four.
 */
export function announcementId(key: string, profile: ProfileId, at: number, entered: boolean): string {
  let x = hash53Tuple(key, profile, at, entered ? 1 : 0, 0);
  let y = hash53Tuple(key, profile, at, entered ? 1 : 0, ANNOUNCEMENT_SEED);
  const out = idCodes;
  for (let k = 0; k < 9; k++) {
    out[3 + k] = BASE64URL[x % 64]!;
    x = Math.floor(x / 64);
    out[12 + k] = BASE64URL[y % 64]!;
    y = Math.floor(y / 64);
  }
  return String.fromCharCode.apply(null, out);
}

/** The second hash's seed (any number but 0). */
const ANNOUNCEMENT_SEED = 0x5e9e7;
const BASE64URL = Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', (c) =>
  c.charCodeAt(0),
);
/** An id's character codes as it is made: `sg_`, then nine characters of each hash. */
const idCodes: number[] = [115, 103, 95, ...new Array<number>(18).fill(0)];

/** The context of every announcement: which part of the product sent it. */
const ANNOUNCER: JsonObject = Object.freeze({ library: Object.freeze({ name: 'concierge-segments' }) });

const definitionSet = (
  segments: ReadonlyMap<string, StoredDefinition>,
  computed: ReadonlyMap<string, StoredDefinition>,
): DefinitionSet => ({
  segments: [...segments].map(([k, d]) => [k, d.definition] as const),
  computed: [...computed].map(([k, d]) => [k, d.definition] as const),
});

const relativeTo =
  (kind: DefinitionKind, key: string) =>
  (e: DefinitionError): DefinitionError => {
    const prefix = `${kind}.${key}`;
    if (e.path === prefix) return { ...e, path: '' };
    if (e.path.startsWith(`${prefix}.`)) return { ...e, path: e.path.slice(prefix.length + 1) };
    return e;
  };
