import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { NormalizedEvent } from '../../core/event.ts';
import { asProfileId, asSourceId, asWorkspaceId, type ProfileId, type WorkspaceId } from '../../core/ids.ts';
import type { Identifier, Profile } from '../../core/profile.ts';
import { applyTraits, type VersionedTraits } from '../../core/traits.ts';
import {
  type AppendTx,
  applyEvents,
  ChangeCollector,
  type RefusalSink,
  type TraitColumn,
} from '../apply-events.ts';
import { BoundedCache } from '../bounded-cache.ts';
import type {
  AppendOutcome,
  AppendResult,
  ErasureReport,
  EventPage,
  IdentityConfig,
  ProfileExport,
  ScannedEvent,
  SourceRecord,
  Store,
  TimelineCursor,
} from '../port.ts';
import {
  type EventRow,
  type IdentifierRow,
  type ProfileRow,
  toEventPage,
  toProfile,
  toStoredEvent,
  toVersioned,
} from '../rows.ts';
import { Serial } from '../serial.ts';
import { uuid7 } from '../uuid7.ts';
import { type ErasedKeys, EventIndex } from './event-index.ts';
import { indexPathOf, moveIndexOut, openIndexFile } from './index-file.ts';
import { IndexerThread } from './index-thread.ts';
import { SQLITE_MIGRATIONS } from './migrations.ts';
import { multiRowInsert } from './multi-row.ts';
import { openWalBuffered } from './wal-buffer.ts';

export interface SqliteOptions {
  /** Database file, or ':memory:'. */
  readonly path: string;
  /** Called with identity merges the rules refused. */
  readonly onRefused?: RefusalSink;
  /** Identifier → profile entries kept in memory (the single writer keeps them coherent). */
  readonly cacheSize?: number;
  /** Open for reading only, beside a writer in another thread (WAL lets both work at once). */
  readonly readonly?: boolean;
  /** Tail length at which an index pass begins, carried by the next commits (or sooner, when appends pause). */
  readonly indexBatch?: number;
  /** Indexed message ids read per step into the de-duplication filter when the store opens. */
  readonly filterStep?: number;
  /** Unindexed events indexed per transaction at start, when the index is far behind the log. */
  readonly catchUpChunk?: number;
  /**
   * Write the index file from a thread of its own (the server's writer does), instead of a step
   * after each commit on the writer's thread. Ignored for ':memory:'.
   */
  readonly indexThread?: boolean;
}

type ScanRow = {
  seq: number;
  profile_id: string;
  source_id: string;
  type: string;
  name: string | null;
  ts: number;
  body: string;
};

const NO_CHANGES = { profiles: [], merges: [], traits: [] };
/** A new profile's traits and consent (never changed in place: applying traits makes a new object). */
const NO_TRAITS: VersionedTraits = Object.freeze({ values: Object.freeze({}), versions: Object.freeze({}) });
/** Profiles whose versioned traits the writer keeps, per generation (see `BoundedCache`). */
const TRAITS_CACHE = 100_000;
/** The most of the log's file the writer reads through a memory map (this SQLite's limit). */
const MMAP_BYTES = 0x7fff0000;
const EVENT_COLUMNS = 10;
const EVENTS_PER_INSERT = 32;
/** Fewest index entries per table a commit carries while a pass is in progress. */
const MIN_INDEX_STEP = 256;
/** The indexer thread's page cache: the index pages its passes rewrite. */
const INDEXER_CACHE_KIB = 65_536;

type SourceRow = { id: string; workspace_id: string; name: string; created_at: number };
const toSource = (r: SourceRow): SourceRecord => ({
  id: asSourceId(r.id),
  workspaceId: asWorkspaceId(r.workspace_id),
  name: r.name,
  createdAt: new Date(r.created_at).toISOString(),
});

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a committed append
 * survives a crash or power loss. This process is the only writer, which lets it cache identity
 * lookups in memory.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  /** Whether the log's write-ahead log is written through the buffer (see wal-buffer.ts). */
  readonly walBuffered: boolean = false;
  private readonly writes = new Serial();
  /**
   * Who owns an identifier, by workspace and kind, then value: nested maps, so a look-up hashes the
   * value as the event carries it instead of building a key string per identifier.
   */
  private readonly owners = new Map<string, Map<string, BoundedCache<string, ProfileId>>>();
  private readonly userIds: BoundedCache<ProfileId, string[]>;
  /**
   * Profiles' versioned traits and consent as last written, so an identify reads neither the row
   * nor its JSON (their pages rarely stay in SQLite's cache while the log grows past them).
   */
  private readonly versioned: Record<TraitColumn, BoundedCache<ProfileId, VersionedTraits>>;
  /**
   * By user id: the anonymous id last seen with it and the profile both belong to, so the usual
   * event resolves with one look-up. Identifiers move only by a merge or an erasure, which clear
   * it (as does a rollback).
   */
  private readonly pairs: BoundedCache<string, { ws: string; anonymousId: string; profile: ProfileId }>;
  /** Profiles created by the transaction in progress, with their creation time. */
  private readonly created = new Map<ProfileId, number>();
  private readonly cacheSize: number;
  private readonly onRefused: RefusalSink | undefined;
  private readonly stmt: ReturnType<SqliteStore['prepare']>;
  /** The connection to the index file (see index-file.ts). */
  private readonly indexDb: Database.Database;
  private readonly index: EventIndex;
  private readonly indexBatch: number;
  private indexTimer: NodeJS.Timeout | null = null;
  /** The thread that writes the index file, when the store has one. */
  private indexer: IndexerThread | null = null;
  /** The pass the indexer thread is writing, settled once the writer has taken its answer. */
  private sent: Promise<void> | null = null;

  constructor(options: SqliteOptions) {
    this.cacheSize = options.cacheSize ?? 1_000_000;
    this.userIds = new BoundedCache(this.cacheSize);
    const traitsGeneration = Math.min(this.cacheSize, TRAITS_CACHE);
    this.pairs = new BoundedCache(traitsGeneration);
    this.versioned = {
      traits: new BoundedCache(traitsGeneration),
      consent: new BoundedCache(traitsGeneration),
    };
    this.onRefused = options.onRefused;
    if (options.readonly) {
      this.db = new Database(options.path, { readonly: true, fileMustExist: true });
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('cache_size = -32768');
      this.stmt = this.prepare();
      this.indexDb = openIndexFile(indexPathOf(options.path), { readonly: true });
      this.index = new EventIndex(this.db, this.indexDb, false);
      this.indexBatch = 0;
      return;
    }
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    // WAL with synchronous=FULL; each commit's frames written at once where the VFS that does it
    // was built (see wal-buffer.ts).
    ({ db: this.db, buffered: this.walBuffered } = openWalBuffered(options.path));
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('cache_size = -65536');
    this.db.pragma('temp_store = MEMORY');
    // Pages of the database file are read through a memory map instead of a read() each: a
    // system call is dear on virtual machines, and an identify's profile row, say, is rarely in
    // the page cache. SQLite maps at most 2 GiB of the file (pages beyond are read as before).
    if (process.env.CONCIERGE_SQLITE_MMAP !== 'off') this.db.pragma(`mmap_size = ${MMAP_BYTES}`);
    this.db.pragma('foreign_keys = ON');
    // Checkpoint less often: each checkpoint rewrites pages that later commits would dirty again.
    // (The server also checkpoints from a thread of its own, so its commits rarely reach this.)
    this.db.pragma('wal_autocheckpoint = 10000');
    const indexPath = indexPathOf(options.path);
    moveIndexOut(this.db, indexPath);
    this.migrateSync();
    this.stmt = this.prepare();
    // Sequence numbers only grow, even after erasure deleted the newest events: readers follow the
    // log by position (journeys, segment recomputes), so a number must never be given out twice.
    this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('seq_floor', 0)").run();
    const floor = this.db.prepare("SELECT value FROM meta WHERE key = 'seq_floor'").pluck().get() as number;
    const max = (this.db.prepare('SELECT max(seq) FROM events').pluck().get() as number | null) ?? 0;
    this.nextSeq = Math.max(floor, max) + 1;
    const logId = this.db.prepare("SELECT value FROM meta WHERE key = 'log_id'").pluck().get() as number;
    // An index that claims more than the log ever held (a copy of the index file from a later
    // moment than the log's) starts empty, like one of another log.
    this.indexDb = openIndexFile(indexPath, { logId, lastSeq: this.nextSeq - 1 });
    this.index = new EventIndex(this.db, this.indexDb, true, options.filterStep, options.catchUpChunk);
    this.indexBatch = options.indexBatch ?? 50_000;
    if (options.indexThread && options.path !== ':memory:') {
      this.indexer = new IndexerThread(indexPath, INDEXER_CACHE_KIB);
    }
    this.loadMessageFilter();
  }

  /** Reads the index's message filter a step at a time, between commits, until it is complete. */
  private loadMessageFilter(): void {
    if (!this.index.filterLoading) return;
    const timer = setTimeout(() => {
      void this.writes.run(async () => {
        if (!this.db.open) return;
        this.index.loadFilter();
        this.loadMessageFilter();
      });
    }, 5);
    timer.unref();
  }

  /** The sequence number the next appended event gets (the single writer hands them out). */
  private nextSeq = 1;

  private migrateSync(): void {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const done = new Set(
      (this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
        (r) => r.version,
      ),
    );
    SQLITE_MIGRATIONS.forEach((m, i) => {
      const version = i + 1;
      if (done.has(version)) return;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(version, m.name, Date.now());
      })();
    });
  }

  private prepare() {
    const db = this.db;
    return {
      owner: db.prepare<[string, string, string], { profile_id: string }>(
        'SELECT profile_id FROM identifiers WHERE workspace_id = ? AND kind = ? AND value = ?',
      ),
      userIds: db
        .prepare<[string], string>(
          "SELECT value FROM identifiers WHERE profile_id = ? AND kind = 'user_id' ORDER BY created_at, value",
        )
        .pluck(),
      insertProfile: db.prepare(
        'INSERT INTO profiles (id, workspace_id, created_at, updated_at) VALUES (?, ?, ?, ?)',
      ),
      insertIdentifier: db.prepare(
        'INSERT INTO identifiers (workspace_id, kind, value, profile_id, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      touch: db.prepare('UPDATE profiles SET updated_at = max(updated_at, ?) WHERE id = ?'),
      identifiersOf: db.prepare<[string], IdentifierRow>(
        'SELECT kind, value FROM identifiers WHERE profile_id = ? ORDER BY created_at, kind, value',
      ),
      moveIdentifiers: db.prepare('UPDATE identifiers SET profile_id = ? WHERE profile_id = ?'),
      copyGroups: db.prepare(
        'INSERT OR IGNORE INTO profile_groups (profile_id, group_id, workspace_id) SELECT ?, group_id, workspace_id FROM profile_groups WHERE profile_id = ?',
      ),
      deleteGroupsOf: db.prepare('DELETE FROM profile_groups WHERE profile_id = ?'),
      deleteProfile: db.prepare('DELETE FROM profiles WHERE id = ?'),
      countEvents: db.prepare<[string, number]>(
        `INSERT INTO counts (workspace_id, events) VALUES (?, ?)
         ON CONFLICT (workspace_id) DO UPDATE SET events = events + excluded.events`,
      ),
      counts: db.prepare<[string], { events: number; profiles: number }>(
        'SELECT events, profiles FROM counts WHERE workspace_id = ?',
      ),
      repointMerges: db.prepare('UPDATE profile_merges SET to_id = ? WHERE to_id = ?'),
      insertMerge: db.prepare(
        'INSERT OR REPLACE INTO profile_merges (from_id, workspace_id, to_id, merged_at) VALUES (?, ?, ?, ?)',
      ),
      maxSeq: db
        .prepare<[string], number | null>('SELECT max(seq) FROM events WHERE workspace_id = ?')
        .pluck(),
      // Events keep the profile id they were stored under; a merge recorded since names the survivor.
      scanEvents: db.prepare<[string, number, number, number], ScanRow>(
        `SELECT e.seq, coalesce(m.to_id, e.profile_id) AS profile_id, e.source_id, e.type, e.name, e.ts, e.body
         FROM events e LEFT JOIN profile_merges m ON m.from_id = e.profile_id
         WHERE e.workspace_id = ? AND e.seq > ? AND e.seq <= ? ORDER BY e.seq LIMIT ?`,
      ),
      scanNamedEvents: db.prepare<[string, number, number, string, number], ScanRow>(
        `SELECT e.seq, coalesce(m.to_id, e.profile_id) AS profile_id, e.source_id, e.type, e.name, e.ts, e.body
         FROM events e LEFT JOIN profile_merges m ON m.from_id = e.profile_id
         WHERE e.workspace_id = ? AND e.seq > ? AND e.seq <= ?
           AND e.name IN (SELECT value FROM json_each(?)) ORDER BY e.seq LIMIT ?`,
      ),
      scanProfiles: db.prepare<[string, string, number], { id: string; traits: string }>(
        'SELECT id, traits FROM profiles WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?',
      ),
      loadTraits: db.prepare<[string], { v: string; vv: string }>(
        'SELECT traits AS v, trait_versions AS vv FROM profiles WHERE id = ?',
      ),
      loadConsent: db.prepare<[string], { v: string; vv: string }>(
        'SELECT consent AS v, consent_versions AS vv FROM profiles WHERE id = ?',
      ),
      saveTraits: db.prepare(
        'UPDATE profiles SET traits = ?, trait_versions = ?, updated_at = max(updated_at, ?) WHERE id = ?',
      ),
      saveConsent: db.prepare(
        'UPDATE profiles SET consent = ?, consent_versions = ?, updated_at = max(updated_at, ?) WHERE id = ?',
      ),
      loadGroup: db.prepare<[string, string], { v: string; vv: string }>(
        'SELECT traits AS v, trait_versions AS vv FROM groups WHERE workspace_id = ? AND group_id = ?',
      ),
      upsertGroup: db.prepare(
        `INSERT INTO groups (workspace_id, group_id, traits, trait_versions, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, group_id) DO UPDATE SET traits = excluded.traits,
           trait_versions = excluded.trait_versions, updated_at = excluded.updated_at`,
      ),
      linkGroup: db.prepare(
        'INSERT OR IGNORE INTO profile_groups (profile_id, group_id, workspace_id) VALUES (?, ?, ?)',
      ),
      profile: db.prepare<[string, string], ProfileRow>(
        'SELECT id, traits, consent, created_at, updated_at FROM profiles WHERE id = ? AND workspace_id = ?',
      ),
      mergedInto: db
        .prepare<[string, string], string>(
          'SELECT to_id FROM profile_merges WHERE from_id = ? AND workspace_id = ?',
        )
        .pluck(),
      mergedFrom: db.prepare<[string], string>('SELECT from_id FROM profile_merges WHERE to_id = ?').pluck(),
      groupsOf: db
        .prepare<[string], string>(
          'SELECT group_id FROM profile_groups WHERE profile_id = ? ORDER BY group_id',
        )
        .pluck(),
      deleteIdentifiers: db.prepare('DELETE FROM identifiers WHERE profile_id = ?'),
      deleteMerges: db.prepare('DELETE FROM profile_merges WHERE to_id = ? OR from_id = ?'),
    };
  }

  async migrate(): Promise<void> {
    this.migrateSync();
  }

  async close(): Promise<void> {
    if (this.indexTimer) clearTimeout(this.indexTimer);
    await this.writes.run(async () => {
      if (!this.db.open) return;
      if (!this.db.readonly) {
        await this.settleSent();
        const indexer = this.indexer;
        this.indexer = null;
        await indexer?.stop();
        // Leave self-contained database files: index the tail and fold the WALs back in.
        this.indexNow();
        this.indexDb.pragma('wal_checkpoint(TRUNCATE)');
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      }
      this.indexDb.close();
      this.db.close();
    });
  }

  /**
   * A PASSIVE checkpoint between two commits, asked for by the checkpointer thread when its own
   * have nearly caught up with the log: what is left is what was committed since, so this one
   * reaches the end of the log, and the next transaction starts the log over.
   */
  async finishCheckpoint(): Promise<void> {
    await this.writes.run(async () => {
      if (this.db.open && !this.db.readonly) this.db.pragma('wal_checkpoint(PASSIVE)');
    });
  }

  async ensureWorkspace(id: WorkspaceId, name: string): Promise<void> {
    await this.writes.run(async () => {
      this.db
        .prepare('INSERT OR IGNORE INTO workspaces (id, name, created_at) VALUES (?, ?, ?)')
        .run(id, name, Date.now());
    });
  }

  async getSetting(ws: WorkspaceId, key: string): Promise<string | null> {
    // Read for every message delivered (the global holdout): prepared once.
    this.settingStmt ??= this.db
      .prepare('SELECT value FROM settings WHERE workspace_id = ? AND key = ?')
      .pluck();
    const row = this.settingStmt.get(ws, key);
    return typeof row === 'string' ? row : null;
  }
  private settingStmt: Database.Statement | undefined;

  async setSetting(ws: WorkspaceId, key: string, value: string): Promise<void> {
    await this.writes.run(async () => {
      this.db
        .prepare(
          'INSERT INTO settings (workspace_id, key, value) VALUES (?, ?, ?) ON CONFLICT (workspace_id, key) DO UPDATE SET value = excluded.value',
        )
        .run(ws, key, value);
    });
  }

  async createSource(ws: WorkspaceId, name: string, writeKeyHash: string): Promise<SourceRecord> {
    return this.writes.run(async () => {
      const row: SourceRow = {
        id: `src_${randomUUID().replace(/-/g, '')}`,
        workspace_id: ws,
        name,
        created_at: Date.now(),
      };
      this.db
        .prepare(
          'INSERT INTO sources (id, workspace_id, name, write_key_hash, created_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(row.id, ws, name, writeKeyHash, row.created_at);
      return toSource(row);
    });
  }

  async findSourceByWriteKeyHash(hash: string): Promise<SourceRecord | null> {
    this.sourceStmt ??= this.db.prepare<[string], SourceRow>(
      'SELECT id, workspace_id, name, created_at FROM sources WHERE write_key_hash = ?',
    );
    const row = this.sourceStmt.get(hash);
    return row ? toSource(row) : null;
  }
  private sourceStmt: Database.Statement<[string], SourceRow> | undefined;

  async listSources(ws: WorkspaceId): Promise<SourceRecord[]> {
    return this.db
      .prepare<[string], SourceRow>(
        'SELECT id, workspace_id, name, created_at FROM sources WHERE workspace_id = ? ORDER BY created_at',
      )
      .all(ws)
      .map(toSource);
  }

  async appendEvents(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
  ): Promise<AppendOutcome[]> {
    return (await this.append(groups, identity, false)).outcomes;
  }

  appendWithChanges(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
  ): Promise<AppendResult> {
    return this.append(groups, identity, true);
  }

  /** Changes are collected only when asked for: a caller that ignores them pays nothing. */
  append(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
    withChanges: boolean,
  ): Promise<AppendResult> {
    return this.writes.run(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      this.created.clear();
      try {
        const collector = withChanges ? new ChangeCollector() : undefined;
        const outcomes = await applyEvents(this.tx, groups, identity, this.onRefused, collector);
        const changes = collector ? await collector.finish(this.tx) : NO_CHANGES;
        this.flushEvents();
        this.flushCounts();
        this.db.exec('COMMIT');
        this.advanceIndex(outcomes.reduce((n, o) => n + o.stored, 0));
        this.scheduleIndex();
        return { outcomes, changes };
      } catch (err) {
        this.rollback();
        throw err;
      }
    });
  }

  private rollback(): void {
    this.eventRows = [];
    this.counted.clear();
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    // The caches may hold entries written by the rolled-back transaction.
    this.owners.clear();
    this.userIds.clear();
    this.pairs.clear();
    for (const cache of Object.values(this.versioned)) cache.clear();
    this.index.reloadTail();
  }

  /**
   * Moves the index along after a commit. With an indexer thread, a tail of `indexBatch` events
   * becomes a pass handed to it whole. Without one, the pass is carried by the commits that follow,
   * a share each, in proportion to the events they append, so that it is done by the time the next
   * tail has grown to `indexBatch`: the index costs each commit a little instead of stalling one in
   * every few hundred.
   */
  private advanceIndex(appended: number): void {
    if (this.index.passing === 0 && this.index.accumulated >= this.indexBatch) {
      if (this.indexer !== null) {
        this.sendPass();
        return;
      }
      this.index.startPass();
    }
    if (this.indexer !== null || this.sent !== null) return;
    const size = this.index.passing;
    if (size === 0) return;
    this.stepIndex(Math.max(MIN_INDEX_STEP, Math.ceil((size * appended * 1.25) / this.indexBatch)));
  }

  /**
   * One step of the pass in a transaction of the index file. The events are committed already,
   * so a failure here loses nothing: the pass starts over at the next step.
   */
  private stepIndex(budget: number): void {
    try {
      if (this.indexDb.transaction(() => this.index.step(budget))()) this.index.passDone();
    } catch {
      this.index.restartPass();
    }
  }

  /** Hands the tail to the indexer thread as a pass; its answer ends the pass. */
  private sendPass(): void {
    const indexer = this.indexer;
    const pass = indexer === null ? null : this.index.startPass();
    if (indexer === null || pass === null) return;
    this.sent = indexer.index(pass.buffer.slice(), pass.lastSeq).then(
      () => {
        this.sent = null;
        this.index.passDone();
        // The next pass starts between transactions, never inside one whose entries are in the tail.
        void this.writes.run(async () => {
          if (this.sent !== null || !this.db.open) return;
          if (this.index.accumulated >= this.indexBatch) this.sendPass();
          else this.scheduleIndex();
        });
      },
      () => {
        // The thread failed: this writer carries the pass, and every later one, itself.
        this.sent = null;
        this.indexer = null;
        void indexer.stop().catch(() => {});
        this.scheduleIndex();
      },
    );
  }

  /** Waits until no pass is with the indexer thread. */
  private async settleSent(): Promise<void> {
    while (this.sent !== null) await this.sent;
  }

  /** Indexes whatever is left once appends pause for a moment. */
  private scheduleIndex(): void {
    if (this.index.pending === 0) return;
    if (this.indexTimer !== null) clearTimeout(this.indexTimer);
    this.indexTimer = setTimeout(() => {
      this.indexTimer = null;
      void this.writes.run(async () => {
        if (this.indexer === null) this.indexNow();
        else if (this.sent === null) this.sendPass();
      });
    }, 250);
    this.indexTimer.unref();
  }

  /** Moves the whole unindexed tail into the index tables now, on this thread. */
  indexNow(): number {
    if (!this.db.open || this.index.pending === 0 || this.sent !== null) return 0;
    return this.index.indexTail();
  }

  /** The owner cache of one workspace and identifier kind. */
  private ownersOf(ws: string, kind: string): BoundedCache<string, ProfileId> {
    let byKind = this.owners.get(ws);
    if (byKind === undefined) {
      byKind = new Map();
      this.owners.set(ws, byKind);
    }
    let cache = byKind.get(kind);
    if (cache === undefined) {
      cache = new BoundedCache(this.cacheSize);
      byKind.set(kind, cache);
    }
    return cache;
  }

  private userIdsOf(profile: ProfileId): string[] {
    const cached = this.userIds.get(profile);
    if (cached !== undefined) return cached;
    const ids = this.stmt.userIds.all(profile);
    this.userIds.set(profile, ids);
    return ids;
  }

  private forgetProfile(profile: ProfileId, identifiers: readonly IdentifierRow[], ws: string): void {
    for (const r of identifiers) this.ownersOf(ws, r.kind).delete(r.value);
    this.userIds.delete(profile);
    this.pairs.clear();
    for (const cache of Object.values(this.versioned)) cache.delete(profile);
  }

  private ownerNow(ws: WorkspaceId, id: Identifier): ProfileId | null {
    const cache = this.ownersOf(ws, id.kind);
    let profile = cache.get(id.value);
    if (profile === undefined) {
      const row = this.stmt.owner.get(ws, id.kind, id.value);
      if (row === undefined) return null;
      profile = asProfileId(row.profile_id);
      cache.set(id.value, profile);
    }
    return profile;
  }

  /** False when (source, messageId) is already stored. */
  private insertEventNow(ev: NormalizedEvent, profile: ProfileId): boolean {
    if (this.index.seen(ev.sourceId, ev.messageId)) return false;
    const seq = this.nextSeq++;
    const rows = this.eventRows;
    rows.push(
      seq,
      ev.workspaceId,
      ev.sourceId,
      ev.messageId,
      profile,
      ev.type,
      ev.name,
      ev.timestamp,
      ev.receivedAt,
      ev.bodyJson,
    );
    if (rows.length === EVENT_COLUMNS * EVENTS_PER_INSERT) this.flushEvents();
    this.index.appended(ev.sourceId, ev.messageId, profile, ev.timestamp, seq);
    return true;
  }

  private readonly tx: AppendTx = {
    ownerOf: async (ws: WorkspaceId, id: Identifier): Promise<ProfileId | null> => this.ownerNow(ws, id),
    userIdsOf: async (profile) => this.userIdsOf(profile),
    pairOwner: (ws, userId, anonymousId) => {
      const p = this.pairs.get(userId);
      return p !== undefined && p.anonymousId === anonymousId && p.ws === ws ? p.profile : undefined;
    },
    rememberPair: (ws, userId, anonymousId, profile) => {
      this.pairs.set(userId, { ws, anonymousId, profile });
    },
    createProfile: async (ws, at) => {
      const id = asProfileId(uuid7(at));
      this.stmt.insertProfile.run(id, ws, at, at);
      this.created.set(id, at);
      this.userIds.set(id, []);
      for (const cache of Object.values(this.versioned)) cache.set(id, NO_TRAITS);
      return id;
    },
    attach: async (ws, profile, id, at) => {
      // Read the cached list before the insert, so a cache miss does not count the new id twice.
      const users = id.kind === 'user_id' ? this.userIdsOf(profile) : null;
      this.stmt.insertIdentifier.run(ws, id.kind, id.value, profile, at);
      // A profile created at this very time already carries it as updated_at.
      if (this.created.get(profile) !== at) this.stmt.touch.run(at, profile);
      this.ownersOf(ws, id.kind).set(id.value, profile);
      if (users !== null) this.userIds.set(profile, [...users, id.value]);
    },
    fold: async (ws, from, into, at) => {
      const moved = this.stmt.identifiersOf.all(from);
      const fromUsers = this.userIdsOf(from);
      // Events keep the id they were stored under; reads follow profile_merges to find them.
      this.stmt.moveIdentifiers.run(into, from);
      this.stmt.copyGroups.run(into, from);
      this.stmt.deleteGroupsOf.run(from);
      this.stmt.deleteProfile.run(from);
      this.stmt.repointMerges.run(into, from);
      this.stmt.insertMerge.run(from, ws, into, at);
      this.stmt.touch.run(at, into);
      this.pairs.clear();
      this.userIds.set(into, [...this.userIdsOf(into), ...fromUsers]);
      this.userIds.delete(from);
      for (const cache of Object.values(this.versioned)) cache.delete(from);
      for (const r of moved) this.ownersOf(ws, r.kind).set(r.value, into);
    },
    loadTraits: async (_ws, profile, column) => {
      const cache = this.versioned[column];
      const cached = cache.get(profile);
      if (cached !== undefined) return cached;
      const row = (column === 'traits' ? this.stmt.loadTraits : this.stmt.loadConsent).get(profile);
      const t = row ? toVersioned(row.v, row.vv) : { values: {}, versions: {} };
      // A missing row (a profile merged away) is not remembered.
      if (row) cache.set(profile, t);
      return t;
    },
    saveTraits: async (_ws, profile, column, t: VersionedTraits, at) => {
      this.versioned[column].set(profile, t);
      (column === 'traits' ? this.stmt.saveTraits : this.stmt.saveConsent).run(
        JSON.stringify(t.values),
        JSON.stringify(t.versions),
        at,
        profile,
      );
    },
    upsertGroup: async (ev, profile) => {
      const groupId = ev.groupId!;
      const row = this.stmt.loadGroup.get(ev.workspaceId, groupId);
      const current = row ? toVersioned(row.v, row.vv) : { values: {}, versions: {} };
      const next = applyTraits(current, ev.traits, [ev.timestamp, ev.messageId]);
      if (next !== current || !row) {
        this.stmt.upsertGroup.run(
          ev.workspaceId,
          groupId,
          JSON.stringify(next.values),
          JSON.stringify(next.versions),
          ev.receivedAt,
          ev.receivedAt,
        );
      }
      this.stmt.linkGroup.run(profile, groupId, ev.workspaceId);
    },
    insertEvent: async (ev, profile) => this.insertEventNow(ev, profile),
    now: {
      ownerOf: (ws, id) => this.ownerNow(ws, id),
      insertEvent: (ev, profile) => this.insertEventNow(ev, profile),
    },
  };

  /**
   * Event rows waiting for their INSERT: appended rows go in groups of `EVENTS_PER_INSERT`, one
   * statement each, which costs far less per row than a statement per event. Nothing in an append
   * reads the log (de-duplication asks the index's tail), and the rest is flushed before COMMIT.
   */
  private eventRows: unknown[] = [];
  /** Events stored per workspace by the transaction in progress, added to `counts` before COMMIT. */
  private readonly counted = new Map<string, number>();
  private insertEvents: ((rows: number) => Database.Statement<unknown[]>) | null = null;

  private flushEvents(): void {
    const rows = this.eventRows;
    if (rows.length === 0) return;
    this.eventRows = [];
    // Tallied by runs of one workspace (a commit's events are nearly always of one).
    let ws = rows[1] as string;
    let n = 0;
    for (let i = 1; i < rows.length; i += EVENT_COLUMNS) {
      if (rows[i] !== ws) {
        this.counted.set(ws, (this.counted.get(ws) ?? 0) + n);
        ws = rows[i] as string;
        n = 0;
      }
      n++;
    }
    this.counted.set(ws, (this.counted.get(ws) ?? 0) + n);
    this.insertEvents ??= multiRowInsert(
      this.db,
      'INSERT INTO events (seq, workspace_id, source_id, message_id, profile_id, type, name, ts, received_at, body)',
      EVENT_COLUMNS,
    );
    this.insertEvents(rows.length / EVENT_COLUMNS).run(...rows);
  }

  private flushCounts(): void {
    for (const [ws, n] of this.counted) this.stmt.countEvents.run(ws, n);
    this.counted.clear();
  }

  private resolveId(ws: WorkspaceId, id: ProfileId): ProfileRow | null {
    const row = this.stmt.profile.get(id, ws);
    if (row) return row;
    const to = this.stmt.mergedInto.get(id, ws);
    return to === undefined ? null : (this.stmt.profile.get(to, ws) ?? null);
  }

  /** The events of a profile and of every profile merged into it, shown under its id. */
  private timelineOf(id: string, before: TimelineCursor | null, limit: number | null): EventRow[] {
    return this.db.transaction(() => {
      const ids = [id, ...this.stmt.mergedFrom.all(id)];
      return this.index.timeline(ids, before, limit).map((e) => ({ ...e, profile_id: id }));
    })();
  }

  private profileOf(row: ProfileRow): Profile {
    return toProfile(row, this.stmt.identifiersOf.all(row.id), this.stmt.groupsOf.all(row.id));
  }

  async findProfile(ws: WorkspaceId, kind: string, value: string): Promise<Profile | null> {
    const owner = this.stmt.owner.get(ws, kind, kind === 'email' ? value.trim().toLowerCase() : value);
    if (!owner) return null;
    const row = this.stmt.profile.get(owner.profile_id, ws);
    return row ? this.profileOf(row) : null;
  }

  async getProfile(ws: WorkspaceId, id: ProfileId): Promise<Profile | null> {
    const row = this.resolveId(ws, id);
    return row ? this.profileOf(row) : null;
  }

  async listEvents(
    ws: WorkspaceId,
    id: ProfileId,
    limit: number,
    before: TimelineCursor | null,
  ): Promise<EventPage> {
    const row = this.resolveId(ws, id);
    if (!row) return { events: [], cursor: null };
    return toEventPage(this.timelineOf(row.id, before, limit + 1), limit);
  }

  async exportProfile(ws: WorkspaceId, id: ProfileId): Promise<ProfileExport | null> {
    const row = this.resolveId(ws, id);
    if (!row) return null;
    const profile = this.profileOf(row);
    const groups = profile.groups.map((groupId) => {
      const g = this.stmt.loadGroup.get(ws, groupId);
      return { groupId, traits: g ? (JSON.parse(g.v) as Record<string, unknown>) : {} };
    });
    return {
      profile,
      mergedProfileIds: this.stmt.mergedFrom.all(row.id).map(asProfileId),
      events: this.timelineOf(row.id, null, null).reverse().map(toStoredEvent),
      groups,
    };
  }

  async eraseProfile(ws: WorkspaceId, id: ProfileId): Promise<ErasureReport | null> {
    return this.writes.run(async () => {
      const row = this.resolveId(ws, id);
      if (!row) return null;
      const profileId = asProfileId(row.id);
      // A pass in progress could hold the erased events: it finishes first, so that their index
      // entries, once in, are deleted with the events.
      await this.settleSent();
      if (this.index.passing > 0) this.stepIndex(Number.POSITIVE_INFINITY);
      if (this.index.passing > 0) throw new Error('the index file could not be written; nothing was erased');
      let erased: ErasedKeys = [];
      const report = this.db.transaction((): ErasureReport => {
        const identifiers = this.stmt.identifiersOf.all(profileId);
        const ids = [profileId, ...this.stmt.mergedFrom.all(profileId)];
        const seqs = this.index.timeline(ids, null, null).map((e) => Number(e.seq));
        // Remember the highest number given out, in case the newest events are among those deleted.
        this.db
          .prepare(
            "UPDATE meta SET value = max(value, (SELECT coalesce(max(seq), 0) FROM events)) WHERE key = 'seq_floor'",
          )
          .run();
        erased = this.index.deleteEvents(seqs);
        const events = seqs.length;
        this.stmt.countEvents.run(ws, -events);
        this.stmt.deleteIdentifiers.run(profileId);
        this.stmt.deleteGroupsOf.run(profileId);
        this.stmt.deleteMerges.run(profileId, profileId);
        this.stmt.deleteProfile.run(profileId);
        this.forgetProfile(profileId, identifiers, ws);
        return { profileId, events, identifiers: identifiers.length };
      })();
      this.index.forget(erased);
      return report;
    });
  }

  async maxSeq(ws: WorkspaceId): Promise<number> {
    return (this.stmt.maxSeq.get(ws) as number | null) ?? 0;
  }

  async scanEvents(
    ws: WorkspaceId,
    range: { afterSeq: number; upToSeq: number; limit: number; names?: readonly string[] },
  ): Promise<ScannedEvent[]> {
    const names = range.names;
    const rows =
      names === undefined
        ? this.stmt.scanEvents.all(ws, range.afterSeq, range.upToSeq, range.limit)
        : this.stmt.scanNamedEvents.all(
            ws,
            range.afterSeq,
            range.upToSeq,
            JSON.stringify(names),
            range.limit,
          );
    return rows.map((r) => ({
      seq: r.seq,
      profileId: asProfileId(r.profile_id),
      sourceId: asSourceId(r.source_id),
      type: r.type,
      name: r.name,
      timestamp: r.ts,
      body: JSON.parse(r.body) as Record<string, unknown>,
    }));
  }

  async scanProfiles(
    ws: WorkspaceId,
    afterId: string,
    limit: number,
  ): Promise<{ id: ProfileId; traits: Record<string, unknown> }[]> {
    return this.stmt.scanProfiles
      .all(ws, afterId, limit)
      .map((r) => ({ id: asProfileId(r.id), traits: JSON.parse(r.traits) as Record<string, unknown> }));
  }

  async counts(ws: WorkspaceId): Promise<{ events: number; profiles: number }> {
    return this.stmt.counts.get(ws) ?? { events: 0, profiles: 0 };
  }
}
