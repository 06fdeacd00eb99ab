/**
 * The journey store on SQLite: a file of its own beside the event log (`…-journeys.db`), so the
 * journey runtime writes without waiting for the event writer and the other way round. Each
 * batch is one transaction; WAL with `synchronous = NORMAL` (see the constructor).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { JsonObject } from '../../core/event.ts';
import { startCheckpointer, stopCheckpointer } from '../../store/sqlite/threaded-sqlite-store.ts';
import type { RunState } from '../step.ts';
import type {
  EntryRecord,
  JourneyBatch,
  JourneyRecord,
  JourneyStatus,
  JourneyStore,
  OutboxResult,
  OutboxRow,
  OutcomeRecord,
  StatRow,
  UnrecordedRow,
  VersionRecord,
} from './port.ts';
import {
  type EntryRow,
  type OutboxDbRow,
  type RunRow,
  runStateJson,
  sumStats,
  toEntry,
  toOutbox,
  toRun,
} from './rows.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS journeys (
  ws TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, published_version INTEGER,
  latest_version INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (ws, key));
CREATE TABLE IF NOT EXISTS journey_versions (
  ws TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, definition TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (ws, key, version));
CREATE TABLE IF NOT EXISTS journey_cursor (ws TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journey_runs (
  id TEXT PRIMARY KEY, ws TEXT NOT NULL, journey TEXT NOT NULL, version INTEGER NOT NULL,
  profile_id TEXT NOT NULL, status TEXT NOT NULL, node TEXT, wake_at INTEGER,
  started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS journey_runs_live ON journey_runs (ws, profile_id)
  WHERE status IN ('active', 'scheduled');
CREATE INDEX IF NOT EXISTS journey_runs_wake ON journey_runs (ws, wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS journey_runs_journey ON journey_runs (ws, journey, id)
  WHERE status IN ('active', 'scheduled');
CREATE INDEX IF NOT EXISTS journey_runs_profile ON journey_runs (ws, profile_id, started_at);
CREATE INDEX IF NOT EXISTS journey_runs_all ON journey_runs (ws, journey, id);
CREATE TABLE IF NOT EXISTS journey_entries (
  ws TEXT NOT NULL, journey TEXT NOT NULL, profile_id TEXT NOT NULL, grp TEXT NOT NULL,
  entries INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
  PRIMARY KEY (ws, journey, profile_id));
CREATE INDEX IF NOT EXISTS journey_entries_profile ON journey_entries (ws, profile_id);
CREATE TABLE IF NOT EXISTS journey_stats (
  ws TEXT NOT NULL, journey TEXT NOT NULL, node TEXT NOT NULL, metric TEXT NOT NULL,
  n INTEGER NOT NULL, PRIMARY KEY (ws, journey, node, metric));
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY, ws TEXT NOT NULL, run_id TEXT, journey TEXT, profile_id TEXT NOT NULL,
  kind TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL, due_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL, detail TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  record TEXT);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (ws, due_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_due_updates ON outbox (ws, due_at) WHERE status = 'pending' AND kind = 'update';
CREATE INDEX IF NOT EXISTS outbox_sending ON outbox (ws) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS outbox_run ON outbox (run_id);
CREATE INDEX IF NOT EXISTS outbox_unrecorded ON outbox (ws, updated_at) WHERE record IS NOT NULL;
-- A profile's journey messages are found through its runs (journey_runs_profile, outbox_run): an
-- index of its own on profile id cost a random page write per message. Rows without a run:
CREATE INDEX IF NOT EXISTS outbox_runless ON outbox (ws, profile_id) WHERE run_id IS NULL;
`;

const RUN_COLUMNS = 'id, journey, version, profile_id, status, node, wake_at, started_at, updated_at, state';

/** A profile's outbox rows: those of its runs, and those without a run. Parameters: ws, profile, profile. */
const OUTBOX_OF_PROFILE = `(run_id IN (SELECT id FROM journey_runs WHERE ws = ? AND profile_id = ?)
  OR (run_id IS NULL AND profile_id = ?))`;

type Stmt = Database.Statement;

export class SqliteJourneyStore implements JourneyStore {
  private readonly db: Database.Database;
  private readonly s: Record<string, Stmt> = {};
  private checkpointer: Worker | null = null;

  constructor(private readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // Commits are durable against a crash of the process without a flush to disk each: a power
    // loss can lose the last commits, which the runtime then redoes from the event log (whose own
    // commits are flushed) — a message sent in that instant could then be sent again.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('cache_size = -65536');
    this.db.pragma('temp_store = MEMORY');
  }

  private st(sql: string): Stmt {
    let s = this.s[sql];
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.s[sql] = s;
    }
    return s;
  }

  async migrate(): Promise<void> {
    const cols = this.db.prepare("SELECT name FROM pragma_table_info('outbox')").all() as { name: string }[];
    if (cols.length > 0 && !cols.some((c) => c.name === 'record'))
      this.db.exec('ALTER TABLE outbox ADD COLUMN record TEXT');
    this.db.exec(SCHEMA);
    this.db.exec('DROP INDEX IF EXISTS outbox_profile');
  }

  /**
   * Folds the WAL back into the file from a thread of its own, so commits never wait for a
   * checkpoint (copying pages inline cost about a sixth of the timer rate); the commits' own
   * automatic checkpoint remains as a backstop for a WAL that grows past about 40 MB.
   */
  async checkpointInBackground(): Promise<void> {
    if (this.path === ':memory:' || this.checkpointer !== null) return;
    this.db.pragma('wal_autocheckpoint = 10000');
    this.checkpointer = await startCheckpointer(this.path, undefined, 'journey-ckpt');
  }

  async close(): Promise<void> {
    const c = this.checkpointer;
    this.checkpointer = null;
    if (c !== null) await stopCheckpointer(c);
    if (this.db.open) this.db.close();
  }

  async listJourneys(ws: string): Promise<JourneyRecord[]> {
    return (this.st('SELECT * FROM journeys WHERE ws = ? ORDER BY key').all(ws) as JRow[]).map(toJourney);
  }

  async getJourney(ws: string, key: string): Promise<JourneyRecord | null> {
    const r = this.st('SELECT * FROM journeys WHERE ws = ? AND key = ?').get(ws, key) as JRow | undefined;
    return r ? toJourney(r) : null;
  }

  async addVersion(ws: string, key: string, definition: JsonObject, now: number): Promise<number> {
    return this.db.transaction(() => {
      const cur = this.st('SELECT latest_version FROM journeys WHERE ws = ? AND key = ?').get(ws, key) as
        | { latest_version: number }
        | undefined;
      const version = (cur?.latest_version ?? 0) + 1;
      this.st(
        'INSERT INTO journey_versions (ws, key, version, definition, created_at) VALUES (?, ?, ?, ?, ?)',
      ).run(ws, key, version, JSON.stringify(definition), now);
      if (cur)
        this.st('UPDATE journeys SET latest_version = ?, updated_at = ? WHERE ws = ? AND key = ?').run(
          version,
          now,
          ws,
          key,
        );
      else
        this.st(
          "INSERT INTO journeys (ws, key, status, published_version, latest_version, updated_at) VALUES (?, ?, 'draft', NULL, ?, ?)",
        ).run(ws, key, version, now);
      return version;
    })();
  }

  async getVersion(ws: string, key: string, version: number): Promise<VersionRecord | null> {
    const r = this.st('SELECT * FROM journey_versions WHERE ws = ? AND key = ? AND version = ?').get(
      ws,
      key,
      version,
    ) as VRow | undefined;
    return r ? toVersion(r) : null;
  }

  async listVersions(ws: string, key: string): Promise<VersionRecord[]> {
    return (
      this.st('SELECT * FROM journey_versions WHERE ws = ? AND key = ? ORDER BY version').all(
        ws,
        key,
      ) as VRow[]
    ).map(toVersion);
  }

  async setStatus(
    ws: string,
    key: string,
    status: JourneyStatus,
    publishedVersion: number | null,
    now: number,
  ): Promise<void> {
    this.st(
      'UPDATE journeys SET status = ?, published_version = ?, updated_at = ? WHERE ws = ? AND key = ?',
    ).run(status, publishedVersion, now, ws, key);
  }

  async cursor(ws: string): Promise<number> {
    const r = this.st('SELECT seq FROM journey_cursor WHERE ws = ?').get(ws) as { seq: number } | undefined;
    return r?.seq ?? 0;
  }

  async liveRuns(ws: string, profileIds: readonly string[]): Promise<RunState[]> {
    if (profileIds.length === 0) return [];
    const rows = this.st(
      `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = ? AND profile_id IN (SELECT value FROM json_each(?))
       AND status IN ('active', 'scheduled')`,
    ).all(ws, JSON.stringify(profileIds)) as RunRow[];
    return rows.map(toRun);
  }

  async journeyRuns(ws: string, key: string, afterId: string, limit: number): Promise<RunState[]> {
    return (
      this.st(
        `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = ? AND journey = ? AND id > ?
         AND status IN ('active', 'scheduled') ORDER BY id LIMIT ?`,
      ).all(ws, key, afterId, limit) as RunRow[]
    ).map(toRun);
  }

  async allRuns(ws: string, key: string, afterId: string, limit: number): Promise<RunState[]> {
    return (
      this.st(
        `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = ? AND journey = ? AND id > ? ORDER BY id LIMIT ?`,
      ).all(ws, key, afterId, limit) as RunRow[]
    ).map(toRun);
  }

  async getRun(ws: string, id: string): Promise<RunState | null> {
    const r = this.st(`SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = ? AND id = ?`).get(ws, id) as
      | RunRow
      | undefined;
    return r ? toRun(r) : null;
  }

  async profileRuns(ws: string, profileId: string, limit: number): Promise<RunState[]> {
    return (
      this.st(
        `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = ? AND profile_id = ? ORDER BY started_at DESC LIMIT ?`,
      ).all(ws, profileId, limit) as RunRow[]
    ).map(toRun);
  }

  async dueRuns(ws: string, upTo: number, limit: number, skip: readonly string[]): Promise<RunState[]> {
    const rows =
      skip.length === 0
        ? this.st(
            `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = ? AND wake_at IS NOT NULL AND wake_at <= ?
             ORDER BY wake_at LIMIT ?`,
          ).all(ws, upTo, limit)
        : this.st(
            `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = ? AND wake_at IS NOT NULL AND wake_at <= ?
             AND journey NOT IN (SELECT value FROM json_each(?)) ORDER BY wake_at LIMIT ?`,
          ).all(ws, upTo, JSON.stringify(skip), limit);
    return (rows as RunRow[]).map(toRun);
  }

  async nextWake(ws: string, skip: readonly string[]): Promise<number | null> {
    const r =
      skip.length === 0
        ? this.st(
            'SELECT wake_at FROM journey_runs WHERE ws = ? AND wake_at IS NOT NULL ORDER BY wake_at LIMIT 1',
          ).get(ws)
        : this.st(
            `SELECT wake_at FROM journey_runs WHERE ws = ? AND wake_at IS NOT NULL
             AND journey NOT IN (SELECT value FROM json_each(?)) ORDER BY wake_at LIMIT 1`,
          ).get(ws, JSON.stringify(skip));
    return (r as { wake_at: number } | undefined)?.wake_at ?? null;
  }

  async entries(ws: string, pairs: readonly (readonly [string, string])[]): Promise<EntryRecord[]> {
    if (pairs.length === 0) return [];
    const rows = this.st(
      `SELECT e.journey, e.profile_id, e.grp, e.entries, e.first_at, e.last_at FROM json_each(?) p
       CROSS JOIN journey_entries e ON e.ws = ? AND e.journey = json_extract(p.value, '$[0]')
       AND e.profile_id = json_extract(p.value, '$[1]')`,
    ).all(JSON.stringify(pairs), ws) as EntryRow[];
    return rows.map(toEntry);
  }

  async journeyEntries(ws: string, key: string, afterProfile: string, limit: number): Promise<EntryRecord[]> {
    return (
      this.st(
        `SELECT journey, profile_id, grp, entries, first_at, last_at FROM journey_entries
         WHERE ws = ? AND journey = ? AND profile_id > ? ORDER BY profile_id LIMIT ?`,
      ).all(ws, key, afterProfile, limit) as EntryRow[]
    ).map(toEntry);
  }

  async commit(ws: string, b: JourneyBatch): Promise<void> {
    this.db.transaction(() => {
      const run = this.st(
        `INSERT INTO journey_runs (${RUN_COLUMNS}, ws) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, profile_id = excluded.profile_id,
         status = excluded.status, node = excluded.node, wake_at = excluded.wake_at,
         updated_at = excluded.updated_at, state = excluded.state`,
      );
      for (const r of b.runs) {
        run.run(
          r.id,
          r.journey,
          r.version,
          r.profileId,
          r.status,
          r.node,
          r.wakeAt,
          r.startedAt,
          r.updatedAt,
          runStateJson(r),
          ws,
        );
      }
      const entry = this.st(
        `INSERT INTO journey_entries (ws, journey, profile_id, grp, entries, first_at, last_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ws, journey, profile_id) DO UPDATE SET
         entries = excluded.entries, last_at = excluded.last_at`,
      );
      for (const e of b.entries)
        entry.run(ws, e.journey, e.profileId, e.group, e.entries, e.firstAt, e.lastAt);
      const cancel = this.st(
        "UPDATE outbox SET status = 'cancelled', detail = 'run ended', updated_at = ? WHERE run_id = ? AND status = 'pending'",
      );
      const now = b.runs.reduce((m, r) => Math.max(m, r.updatedAt), 0);
      for (const id of b.cancelRuns) cancel.run(now, id);
      const out = this.st(
        `INSERT INTO outbox (id, ws, run_id, journey, profile_id, kind, payload, status, due_at, attempts, detail,
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      );
      for (const o of b.outbox) {
        out.run(
          o.id,
          ws,
          o.runId,
          o.journey,
          o.profileId,
          o.kind,
          JSON.stringify(o.payload),
          o.status,
          o.dueAt,
          o.attempts,
          o.detail,
          o.createdAt,
          o.createdAt,
        );
      }
      this.addStats(ws, b.stats);
      if (b.cursor !== undefined)
        this.st(
          'INSERT INTO journey_cursor (ws, seq) VALUES (?, ?) ON CONFLICT (ws) DO UPDATE SET seq = excluded.seq',
        ).run(ws, b.cursor);
    })();
  }

  async stats(ws: string, key: string): Promise<StatRow[]> {
    return (
      this.st('SELECT node, metric, n FROM journey_stats WHERE ws = ? AND journey = ?').all(ws, key) as {
        node: string;
        metric: string;
        n: number;
      }[]
    ).map((r) => ({ node: r.node === '' ? null : r.node, metric: r.metric, n: r.n }));
  }

  async reassign(ws: string, from: string, into: string): Promise<void> {
    this.db.transaction(() => {
      // The outbox first: its rows are found through the runs still on `from`.
      this.st(`UPDATE outbox SET profile_id = ? WHERE ws = ? AND ${OUTBOX_OF_PROFILE}`).run(
        into,
        ws,
        ws,
        from,
        from,
      );
      this.st('UPDATE journey_runs SET profile_id = ? WHERE ws = ? AND profile_id = ?').run(into, ws, from);

      // Entries: the surviving profile keeps its own record where it has one.
      this.st(`UPDATE OR IGNORE journey_entries SET profile_id = ? WHERE ws = ? AND profile_id = ?`).run(
        into,
        ws,
        from,
      );
      this.st('DELETE FROM journey_entries WHERE ws = ? AND profile_id = ?').run(ws, from);
    })();
  }

  async eraseProfile(ws: string, profileId: string): Promise<number> {
    return this.db.transaction(() => {
      // The outbox first: its rows are found through the profile's runs.
      let n = this.st(`DELETE FROM outbox WHERE ws = ? AND ${OUTBOX_OF_PROFILE}`).run(
        ws,
        ws,
        profileId,
        profileId,
      ).changes;
      n += this.st('DELETE FROM journey_runs WHERE ws = ? AND profile_id = ?').run(ws, profileId).changes;
      n += this.st('DELETE FROM journey_entries WHERE ws = ? AND profile_id = ?').run(ws, profileId).changes;
      return n;
    })();
  }

  async claimOutbox(ws: string, now: number, limit: number, updatesOnly = false): Promise<OutboxRow[]> {
    // One statement marks the rows and returns them (in no set order: sorted here by due time).
    const rows = this.st(
      `UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = ?
       WHERE rowid IN (SELECT rowid FROM outbox WHERE ws = ? AND status = 'pending' AND due_at <= ?
       ${updatesOnly ? "AND kind = 'update'" : ''} ORDER BY due_at, rowid LIMIT ?) RETURNING *, rowid AS seq`,
    ).all(now, ws, now, limit) as (OutboxDbRow & { seq: number })[];
    rows.sort((a, b) => Number(a.due_at) - Number(b.due_at) || a.seq - b.seq);
    return rows.map(toOutbox);
  }

  async settleOutbox(
    ws: string,
    results: readonly OutboxResult[],
    now: number,
    stats: JourneyBatch['stats'] = [],
  ): Promise<void> {
    this.db.transaction(() => {
      const st = this.st(
        'UPDATE outbox SET status = ?, detail = ?, due_at = COALESCE(?, due_at), updated_at = ?, record = ? WHERE ws = ? AND id = ?',
      );
      for (const r of results)
        st.run(
          r.status,
          r.detail,
          r.dueAt ?? null,
          now,
          r.record ? JSON.stringify(r.record) : null,
          ws,
          r.id,
        );
      this.addStats(ws, stats);
    })();
  }

  private addStats(ws: string, stats: JourneyBatch['stats']): void {
    const stat = this.st(
      `INSERT INTO journey_stats (ws, journey, node, metric, n) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (ws, journey, node, metric) DO UPDATE SET n = n + excluded.n`,
    );
    for (const s of sumStats(stats)) stat.run(ws, s.journey, s.node, s.metric, s.n);
  }

  async unrecorded(ws: string, limit: number): Promise<UnrecordedRow[]> {
    const rows = this.st(
      'SELECT id, profile_id, record, updated_at FROM outbox WHERE ws = ? AND record IS NOT NULL ORDER BY updated_at, rowid LIMIT ?',
    ).all(ws, limit) as { id: string; profile_id: string; record: string; updated_at: number }[];
    return rows.map((r) => ({
      id: r.id,
      profileId: r.profile_id,
      record: JSON.parse(r.record) as OutcomeRecord,
      settledAt: r.updated_at,
    }));
  }

  async markRecorded(ws: string, ids: readonly string[]): Promise<void> {
    this.db.transaction(() => {
      const st = this.st('UPDATE outbox SET record = NULL WHERE ws = ? AND id = ?');
      for (const id of ids) st.run(ws, id);
    })();
  }

  async markInDoubt(ws: string, from: string, to: string): Promise<number> {
    return this.st("UPDATE outbox SET detail = ? WHERE ws = ? AND status = 'sent' AND detail = ?").run(
      to,
      ws,
      from,
    ).changes;
  }

  async recoverOutbox(ws: string): Promise<number> {
    return this.st("UPDATE outbox SET status = 'pending' WHERE ws = ? AND status = 'sending'").run(ws)
      .changes;
  }

  async nextOutboxDue(ws: string, updatesOnly = false): Promise<number | null> {
    const r = this.st(
      `SELECT due_at FROM outbox WHERE ws = ? AND status = 'pending' ${updatesOnly ? "AND kind = 'update'" : ''}
       ORDER BY due_at LIMIT 1`,
    ).get(ws) as { due_at: number } | undefined;
    return r?.due_at ?? null;
  }

  async outboxOfRun(ws: string, runId: string): Promise<OutboxRow[]> {
    return (
      this.st('SELECT * FROM outbox WHERE ws = ? AND run_id = ? ORDER BY created_at, id').all(
        ws,
        runId,
      ) as OutboxDbRow[]
    ).map(toOutbox);
  }

  async outboxOfProfile(ws: string, profileId: string, limit: number): Promise<OutboxRow[]> {
    return (
      this.st(
        `SELECT * FROM outbox WHERE ws = ? AND ${OUTBOX_OF_PROFILE} ORDER BY created_at DESC LIMIT ?`,
      ).all(ws, ws, profileId, profileId, limit) as OutboxDbRow[]
    ).map(toOutbox);
  }

  async counts(ws: string): Promise<{ live: number; outboxPending: number }> {
    const live = this.st(
      "SELECT count(*) AS n FROM journey_runs WHERE ws = ? AND status IN ('active', 'scheduled')",
    ).get(ws) as { n: number };
    const pending = this.st("SELECT count(*) AS n FROM outbox WHERE ws = ? AND status = 'pending'").get(
      ws,
    ) as {
      n: number;
    };
    return { live: live.n, outboxPending: pending.n };
  }
}

interface JRow {
  key: string;
  status: string;
  published_version: number | string | null;
  latest_version: number | string;
  updated_at: number | string;
}
interface VRow {
  key: string;
  version: number | string;
  definition: string;
  created_at: number | string;
}

export const toJourney = (r: JRow): JourneyRecord => ({
  key: r.key,
  status: r.status as JourneyStatus,
  publishedVersion: r.published_version === null ? null : Number(r.published_version),
  latestVersion: Number(r.latest_version),
  updatedAt: Number(r.updated_at),
});

export const toVersion = (r: VRow): VersionRecord => ({
  key: r.key,
  version: Number(r.version),
  definition: JSON.parse(r.definition) as JsonObject,
  createdAt: Number(r.created_at),
});

export type { JRow, VRow };
