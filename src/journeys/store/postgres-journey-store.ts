/**
 * The journey store on Postgres, in the same database and schema as the event log (tables
 * `journey_*` and `outbox`). Each batch is one transaction on one pooled connection.
 */
import pg from 'pg';
import type { JsonObject } from '../../core/event.ts';
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
import { type JRow, toJourney, toVersion, type VRow } from './sqlite-journey-store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS journeys (
  ws TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, status TEXT NOT NULL, published_version INTEGER,
  latest_version INTEGER NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (ws, key));
CREATE TABLE IF NOT EXISTS journey_versions (
  ws TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, version INTEGER NOT NULL, definition TEXT NOT NULL,
  created_at BIGINT NOT NULL, PRIMARY KEY (ws, key, version));
CREATE TABLE IF NOT EXISTS journey_cursor (ws TEXT COLLATE "C" PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS journey_runs (
  id TEXT COLLATE "C" PRIMARY KEY, ws TEXT COLLATE "C" NOT NULL, journey TEXT COLLATE "C" NOT NULL,
  version INTEGER NOT NULL, profile_id TEXT COLLATE "C" NOT NULL, status TEXT NOT NULL, node TEXT, wake_at BIGINT,
  started_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS journey_runs_live ON journey_runs (ws, profile_id)
  WHERE status IN ('active', 'scheduled');
CREATE INDEX IF NOT EXISTS journey_runs_wake ON journey_runs (ws, wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS journey_runs_journey ON journey_runs (ws, journey, id)
  WHERE status IN ('active', 'scheduled');
CREATE INDEX IF NOT EXISTS journey_runs_profile ON journey_runs (ws, profile_id, started_at);
CREATE INDEX IF NOT EXISTS journey_runs_all ON journey_runs (ws, journey, id);
CREATE TABLE IF NOT EXISTS journey_entries (
  ws TEXT COLLATE "C" NOT NULL, journey TEXT COLLATE "C" NOT NULL, profile_id TEXT COLLATE "C" NOT NULL,
  grp TEXT NOT NULL, entries INTEGER NOT NULL, first_at BIGINT NOT NULL, last_at BIGINT NOT NULL,
  PRIMARY KEY (ws, journey, profile_id));
CREATE INDEX IF NOT EXISTS journey_entries_profile ON journey_entries (ws, profile_id);
CREATE TABLE IF NOT EXISTS journey_stats (
  ws TEXT COLLATE "C" NOT NULL, journey TEXT COLLATE "C" NOT NULL, node TEXT COLLATE "C" NOT NULL,
  metric TEXT COLLATE "C" NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (ws, journey, node, metric));
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT COLLATE "C" PRIMARY KEY, ws TEXT COLLATE "C" NOT NULL, run_id TEXT COLLATE "C", journey TEXT COLLATE "C",
  profile_id TEXT COLLATE "C" NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
  due_at BIGINT NOT NULL, attempts INTEGER NOT NULL, detail TEXT, created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL, record TEXT);
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS record TEXT;
CREATE INDEX IF NOT EXISTS outbox_unrecorded ON outbox (ws, updated_at) WHERE record IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (ws, due_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_due_updates ON outbox (ws, due_at) WHERE status = 'pending' AND kind = 'update';
CREATE INDEX IF NOT EXISTS outbox_sending ON outbox (ws) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS outbox_run ON outbox (run_id);
CREATE INDEX IF NOT EXISTS outbox_profile ON outbox (ws, profile_id, created_at);
`;

const RUN_COLUMNS = 'id, journey, version, profile_id, status, node, wake_at, started_at, updated_at, state';
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export class PostgresJourneyStore implements JourneyStore {
  private readonly pool: pg.Pool;

  constructor(options: { url: string; schema?: string; poolSize?: number }) {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema)) throw new Error(`bad Postgres schema name ${JSON.stringify(schema)}`);
    this.pool = new pg.Pool({
      connectionString: options.url,
      options: `-c search_path=${schema}`,
      max: options.poolSize ?? 4,
    });
    this.pool.on('error', () => {});
  }

  private async q<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[];
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtextextended('concierge:journeys:migrate', 0))");
      await c.query(SCHEMA);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async listJourneys(ws: string): Promise<JourneyRecord[]> {
    return (await this.q<JRow>('SELECT * FROM journeys WHERE ws = $1 ORDER BY key', [ws])).map(toJourney);
  }

  async getJourney(ws: string, key: string): Promise<JourneyRecord | null> {
    const [r] = await this.q<JRow>('SELECT * FROM journeys WHERE ws = $1 AND key = $2', [ws, key]);
    return r ? toJourney(r) : null;
  }

  async addVersion(ws: string, key: string, definition: JsonObject, now: number): Promise<number> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`journey:${ws}:${key}`]);
      const cur = (
        await c.query<{ latest_version: number }>(
          'SELECT latest_version FROM journeys WHERE ws = $1 AND key = $2',
          [ws, key],
        )
      ).rows[0];
      const version = (cur?.latest_version ?? 0) + 1;
      await c.query(
        'INSERT INTO journey_versions (ws, key, version, definition, created_at) VALUES ($1, $2, $3, $4, $5)',
        [ws, key, version, JSON.stringify(definition), now],
      );
      if (cur)
        await c.query('UPDATE journeys SET latest_version = $1, updated_at = $2 WHERE ws = $3 AND key = $4', [
          version,
          now,
          ws,
          key,
        ]);
      else
        await c.query(
          "INSERT INTO journeys (ws, key, status, published_version, latest_version, updated_at) VALUES ($1, $2, 'draft', NULL, $3, $4)",
          [ws, key, version, now],
        );
      return version;
    });
  }

  async getVersion(ws: string, key: string, version: number): Promise<VersionRecord | null> {
    const [r] = await this.q<VRow>(
      'SELECT * FROM journey_versions WHERE ws = $1 AND key = $2 AND version = $3',
      [ws, key, version],
    );
    return r ? toVersion(r) : null;
  }

  async listVersions(ws: string, key: string): Promise<VersionRecord[]> {
    return (
      await this.q<VRow>('SELECT * FROM journey_versions WHERE ws = $1 AND key = $2 ORDER BY version', [
        ws,
        key,
      ])
    ).map(toVersion);
  }

  async setStatus(
    ws: string,
    key: string,
    status: JourneyStatus,
    publishedVersion: number | null,
    now: number,
  ): Promise<void> {
    await this.q(
      'UPDATE journeys SET status = $1, published_version = $2, updated_at = $3 WHERE ws = $4 AND key = $5',
      [status, publishedVersion, now, ws, key],
    );
  }

  async cursor(ws: string): Promise<number> {
    const [r] = await this.q<{ seq: string }>('SELECT seq FROM journey_cursor WHERE ws = $1', [ws]);
    return r ? Number(r.seq) : 0;
  }

  async liveRuns(ws: string, profileIds: readonly string[]): Promise<RunState[]> {
    if (profileIds.length === 0) return [];
    return (
      await this.q<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = $1 AND profile_id = ANY($2::text[])
         AND status IN ('active', 'scheduled')`,
        [ws, profileIds],
      )
    ).map(toRun);
  }

  async journeyRuns(ws: string, key: string, afterId: string, limit: number): Promise<RunState[]> {
    return (
      await this.q<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = $1 AND journey = $2 AND id > $3
         AND status IN ('active', 'scheduled') ORDER BY id LIMIT $4`,
        [ws, key, afterId, limit],
      )
    ).map(toRun);
  }

  async allRuns(ws: string, key: string, afterId: string, limit: number): Promise<RunState[]> {
    return (
      await this.q<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = $1 AND journey = $2 AND id > $3 ORDER BY id LIMIT $4`,
        [ws, key, afterId, limit],
      )
    ).map(toRun);
  }

  async getRun(ws: string, id: string): Promise<RunState | null> {
    const [r] = await this.q<RunRow>(`SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = $1 AND id = $2`, [
      ws,
      id,
    ]);
    return r ? toRun(r) : null;
  }

  async profileRuns(ws: string, profileId: string, limit: number): Promise<RunState[]> {
    return (
      await this.q<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = $1 AND profile_id = $2 ORDER BY started_at DESC LIMIT $3`,
        [ws, profileId, limit],
      )
    ).map(toRun);
  }

  async dueRuns(ws: string, upTo: number, limit: number, skip: readonly string[]): Promise<RunState[]> {
    return (
      await this.q<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM journey_runs WHERE ws = $1 AND wake_at IS NOT NULL AND wake_at <= $2
         AND NOT (journey = ANY($3::text[])) ORDER BY wake_at LIMIT $4`,
        [ws, upTo, skip, limit],
      )
    ).map(toRun);
  }

  async nextWake(ws: string, skip: readonly string[]): Promise<number | null> {
    const [r] = await this.q<{ wake_at: string }>(
      `SELECT wake_at FROM journey_runs WHERE ws = $1 AND wake_at IS NOT NULL AND NOT (journey = ANY($2::text[]))
       ORDER BY wake_at LIMIT 1`,
      [ws, skip],
    );
    return r ? Number(r.wake_at) : null;
  }

  async entries(ws: string, pairs: readonly (readonly [string, string])[]): Promise<EntryRecord[]> {
    if (pairs.length === 0) return [];
    return (
      await this.q<EntryRow>(
        `SELECT e.journey, e.profile_id, e.grp, e.entries, e.first_at, e.last_at FROM journey_entries e
         JOIN unnest($2::text[], $3::text[]) AS p(journey, profile_id)
         ON e.journey = p.journey AND e.profile_id = p.profile_id WHERE e.ws = $1`,
        [ws, pairs.map((p) => p[0]), pairs.map((p) => p[1])],
      )
    ).map(toEntry);
  }

  async journeyEntries(ws: string, key: string, afterProfile: string, limit: number): Promise<EntryRecord[]> {
    return (
      await this.q<EntryRow>(
        `SELECT journey, profile_id, grp, entries, first_at, last_at FROM journey_entries
         WHERE ws = $1 AND journey = $2 AND profile_id > $3 ORDER BY profile_id LIMIT $4`,
        [ws, key, afterProfile, limit],
      )
    ).map(toEntry);
  }

  async commit(ws: string, b: JourneyBatch): Promise<void> {
    await this.tx(async (c) => {
      if (b.runs.length > 0) {
        const rs = b.runs;
        await c.query(
          `INSERT INTO journey_runs (id, journey, version, profile_id, status, node, wake_at, started_at, updated_at, state, ws)
           SELECT *, $11 FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[],
             $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])
           ON CONFLICT (id) DO UPDATE SET version = excluded.version, profile_id = excluded.profile_id,
           status = excluded.status, node = excluded.node, wake_at = excluded.wake_at,
           updated_at = excluded.updated_at, state = excluded.state`,
          [
            rs.map((r) => r.id),
            rs.map((r) => r.journey),
            rs.map((r) => r.version),
            rs.map((r) => r.profileId),
            rs.map((r) => r.status),
            rs.map((r) => r.node),
            rs.map((r) => r.wakeAt),
            rs.map((r) => r.startedAt),
            rs.map((r) => r.updatedAt),
            rs.map(runStateJson),
            ws,
          ],
        );
      }
      if (b.entries.length > 0) {
        const es = b.entries;
        await c.query(
          `INSERT INTO journey_entries (journey, profile_id, grp, entries, first_at, last_at, ws)
           SELECT *, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[])
           ON CONFLICT (ws, journey, profile_id) DO UPDATE SET entries = excluded.entries, last_at = excluded.last_at`,
          [
            es.map((e) => e.journey),
            es.map((e) => e.profileId),
            es.map((e) => e.group),
            es.map((e) => e.entries),
            es.map((e) => e.firstAt),
            es.map((e) => e.lastAt),
            ws,
          ],
        );
      }
      if (b.cancelRuns.length > 0) {
        const now = b.runs.reduce((m, r) => Math.max(m, r.updatedAt), 0);
        await c.query(
          `UPDATE outbox SET status = 'cancelled', detail = 'run ended', updated_at = $1
           WHERE run_id = ANY($2::text[]) AND status = 'pending'`,
          [now, b.cancelRuns],
        );
      }
      if (b.outbox.length > 0) {
        const os = b.outbox;
        await c.query(
          `INSERT INTO outbox (id, run_id, journey, profile_id, kind, payload, status, due_at, attempts, detail,
             created_at, updated_at, ws)
           SELECT *, $12 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
             $7::text[], $8::bigint[], $9::int[], $10::text[], $11::bigint[], $11::bigint[])
           ON CONFLICT (id) DO NOTHING`,
          [
            os.map((o) => o.id),
            os.map((o) => o.runId),
            os.map((o) => o.journey),
            os.map((o) => o.profileId),
            os.map((o) => o.kind),
            os.map((o) => JSON.stringify(o.payload)),
            os.map((o) => o.status),
            os.map((o) => o.dueAt),
            os.map((o) => o.attempts),
            os.map((o) => o.detail),
            os.map((o) => o.createdAt),
            ws,
          ],
        );
      }
      await this.addStats(c, ws, b.stats);
      if (b.cursor !== undefined)
        await c.query(
          'INSERT INTO journey_cursor (ws, seq) VALUES ($1, $2) ON CONFLICT (ws) DO UPDATE SET seq = excluded.seq',
          [ws, b.cursor],
        );
    });
  }

  async stats(ws: string, key: string): Promise<StatRow[]> {
    return (
      await this.q<{ node: string; metric: string; n: string }>(
        'SELECT node, metric, n FROM journey_stats WHERE ws = $1 AND journey = $2',
        [ws, key],
      )
    ).map((r) => ({ node: r.node === '' ? null : r.node, metric: r.metric, n: Number(r.n) }));
  }

  async reassign(ws: string, from: string, into: string): Promise<void> {
    await this.tx(async (c) => {
      await c.query('UPDATE journey_runs SET profile_id = $1 WHERE ws = $2 AND profile_id = $3', [
        into,
        ws,
        from,
      ]);
      await c.query('UPDATE outbox SET profile_id = $1 WHERE ws = $2 AND profile_id = $3', [into, ws, from]);
      await c.query(
        `UPDATE journey_entries e SET profile_id = $1 WHERE ws = $2 AND profile_id = $3 AND NOT EXISTS
         (SELECT 1 FROM journey_entries x WHERE x.ws = e.ws AND x.journey = e.journey AND x.profile_id = $1)`,
        [into, ws, from],
      );
      await c.query('DELETE FROM journey_entries WHERE ws = $1 AND profile_id = $2', [ws, from]);
    });
  }

  async eraseProfile(ws: string, profileId: string): Promise<number> {
    return this.tx(async (c) => {
      let n =
        (await c.query('DELETE FROM journey_runs WHERE ws = $1 AND profile_id = $2', [ws, profileId]))
          .rowCount ?? 0;
      n +=
        (await c.query('DELETE FROM outbox WHERE ws = $1 AND profile_id = $2', [ws, profileId])).rowCount ??
        0;
      n +=
        (await c.query('DELETE FROM journey_entries WHERE ws = $1 AND profile_id = $2', [ws, profileId]))
          .rowCount ?? 0;
      return n;
    });
  }

  async claimOutbox(ws: string, now: number, limit: number, updatesOnly = false): Promise<OutboxRow[]> {
    const rows = await this.q<OutboxDbRow>(
      `UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = $2 WHERE id IN (
         SELECT id FROM outbox WHERE ws = $1 AND status = 'pending' AND due_at <= $2
         ${updatesOnly ? "AND kind = 'update'" : ''} ORDER BY due_at, created_at LIMIT $3
         FOR UPDATE SKIP LOCKED) RETURNING *`,
      [ws, now, limit],
    );
    return rows.map(toOutbox).sort((a, b) => a.dueAt - b.dueAt || a.createdAt - b.createdAt);
  }

  async settleOutbox(
    ws: string,
    results: readonly OutboxResult[],
    now: number,
    stats: JourneyBatch['stats'] = [],
  ): Promise<void> {
    if (results.length === 0 && stats.length === 0) return;
    await this.tx(async (c) => {
      if (results.length > 0)
        await c.query(
          `UPDATE outbox o SET status = r.status, detail = r.detail, due_at = COALESCE(r.due_at, o.due_at),
             updated_at = $1, record = r.record
           FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $7::text[]) AS r(id, status, detail, due_at, record)
           WHERE o.ws = $6 AND o.id = r.id`,
          [
            now,
            results.map((r) => r.id),
            results.map((r) => r.status),
            results.map((r) => r.detail),
            results.map((r) => r.dueAt ?? null),
            ws,
            results.map((r) => (r.record ? JSON.stringify(r.record) : null)),
          ],
        );
      await this.addStats(c, ws, stats);
    });
  }

  private async addStats(c: pg.PoolClient, ws: string, all: JourneyBatch['stats']): Promise<void> {
    const stats = sumStats(all);
    if (stats.length === 0) return;
    await c.query(
      `INSERT INTO journey_stats (journey, node, metric, n, ws)
       SELECT *, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
       ON CONFLICT (ws, journey, node, metric) DO UPDATE SET n = journey_stats.n + excluded.n`,
      [
        stats.map((s) => s.journey),
        stats.map((s) => s.node),
        stats.map((s) => s.metric),
        stats.map((s) => s.n),
        ws,
      ],
    );
  }

  async unrecorded(ws: string, limit: number): Promise<UnrecordedRow[]> {
    const rows = await this.q<{ id: string; profile_id: string; record: string; updated_at: string }>(
      'SELECT id, profile_id, record, updated_at FROM outbox WHERE ws = $1 AND record IS NOT NULL ORDER BY updated_at, id LIMIT $2',
      [ws, limit],
    );
    return rows.map((r) => ({
      id: r.id,
      profileId: r.profile_id,
      record: JSON.parse(r.record) as OutcomeRecord,
      settledAt: Number(r.updated_at),
    }));
  }

  async markRecorded(ws: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.q('UPDATE outbox SET record = NULL WHERE ws = $1 AND id = ANY($2::text[])', [ws, ids]);
  }

  async markInDoubt(ws: string, from: string, to: string): Promise<number> {
    const r = await this.pool.query(
      "UPDATE outbox SET detail = $1 WHERE ws = $2 AND status = 'sent' AND detail = $3",
      [to, ws, from],
    );
    return r.rowCount ?? 0;
  }

  async recoverOutbox(ws: string): Promise<number> {
    const r = await this.pool.query(
      "UPDATE outbox SET status = 'pending' WHERE ws = $1 AND status = 'sending'",
      [ws],
    );
    return r.rowCount ?? 0;
  }

  async nextOutboxDue(ws: string, updatesOnly = false): Promise<number | null> {
    const [r] = await this.q<{ due_at: string }>(
      `SELECT due_at FROM outbox WHERE ws = $1 AND status = 'pending' ${updatesOnly ? "AND kind = 'update'" : ''}
       ORDER BY due_at LIMIT 1`,
      [ws],
    );
    return r ? Number(r.due_at) : null;
  }

  async outboxOfRun(ws: string, runId: string): Promise<OutboxRow[]> {
    return (
      await this.q<OutboxDbRow>(
        'SELECT * FROM outbox WHERE ws = $1 AND run_id = $2 ORDER BY created_at, id',
        [ws, runId],
      )
    ).map(toOutbox);
  }

  async outboxOfProfile(ws: string, profileId: string, limit: number): Promise<OutboxRow[]> {
    return (
      await this.q<OutboxDbRow>(
        'SELECT * FROM outbox WHERE ws = $1 AND profile_id = $2 ORDER BY created_at DESC LIMIT $3',
        [ws, profileId, limit],
      )
    ).map(toOutbox);
  }

  async counts(ws: string): Promise<{ live: number; outboxPending: number }> {
    const [r] = await this.q<{ live: string; pending: string }>(
      `SELECT (SELECT count(*) FROM journey_runs WHERE ws = $1 AND status IN ('active', 'scheduled')) AS live,
              (SELECT count(*) FROM outbox WHERE ws = $1 AND status = 'pending') AS pending`,
      [ws],
    );
    return { live: Number(r?.live ?? 0), outboxPending: Number(r?.pending ?? 0) };
  }
}
