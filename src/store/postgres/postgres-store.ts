import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import pg from 'pg';
import type { JsonObject, NormalizedEvent } from '../../core/event.ts';
import { asProfileId, asSourceId, asWorkspaceId, type ProfileId, type WorkspaceId } from '../../core/ids.ts';
import type { Profile } from '../../core/profile.ts';
import { applyEvents, ChangeCollector, type RefusalSink } from '../apply-events.ts';
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
} from '../rows.ts';
import { Serial } from '../serial.ts';
import { PgAppend, StoredBefore } from './append.ts';
import { type AppendPlan, planAppend } from './append-plan.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';
import { BEGIN, type Queryable, run } from './statements.ts';

export interface PostgresOptions {
  /** A libpq-style connection URL, e.g. `postgres://user:password@host:5432/database`. */
  readonly url: string;
  /** Called with identity merges the rules refused. */
  readonly onRefused?: RefusalSink;
  /**
   * The schema holding Concierge's tables (default `public`), set as `search_path` on every pooled
   * connection. Lower-case letters, digits and underscores. Created by `migrate()` when missing.
   * (An `options` parameter in the URL replaces this setting.)
   */
  readonly schema?: string;
  /** Most connections the pool opens (default 10). */
  readonly poolSize?: number;
}

type SourceRow = { id: string; workspace_id: string; name: string; created_at: number | string };
type ProfileReadRow = ProfileRow & { identifiers: IdentifierRow[]; groups: string[] };

const toSource = (r: SourceRow): SourceRecord => ({
  id: asSourceId(r.id),
  workspaceId: asWorkspaceId(r.workspace_id),
  name: r.name,
  createdAt: new Date(Number(r.created_at)).toISOString(),
});

const NO_CHANGES = { profiles: [], merges: [], traits: [] };

type ScanRow = {
  seq: string;
  profile_id: string;
  source_id: string;
  type: string;
  name: string | null;
  ts: string;
  body: Record<string, unknown>;
};

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Appends take every message id not seen earlier in the commit as new, which saves looking them up.
 * When a commit holds one already stored after all (a client retrying a request), it is run again
 * with the look-up, and so are this many commits after it.
 */
const CHECK_STORED_AFTER_DUPLICATE = 100;

/**
 * The server store: Postgres through a `pg` connection pool. Several processes may share one
 * database: appends and erasures take a per-workspace advisory lock for their transaction, so
 * identity merges never interleave, and nothing about identities is cached between transactions.
 * Within the process, writes run one at a time (the ingest service already groups requests into
 * one commit).
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly writes = new Serial();
  /** Appends still to look up stored message ids first (see CHECK_STORED_AFTER_DUPLICATE). */
  private checkStoredFor = 0;
  private readonly onRefused: RefusalSink | undefined;

  constructor(options: PostgresOptions) {
    this.schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(this.schema)) {
      throw new Error(
        `Postgres schema must be lower-case letters, digits and underscores, got ${JSON.stringify(this.schema)}`,
      );
    }
    this.onRefused = options.onRefused;
    this.pool = new pg.Pool({
      connectionString: options.url,
      options: `-c search_path=${this.schema}`,
      max: options.poolSize ?? 10,
      // Statements issued together on one connection go out without waiting for each other's
      // answers (an append sends its reads, then its writes and COMMIT, that way).
      pipeline: true,
    });
    // An idle connection that dies (server restart) is dropped by the pool; do not crash on it.
    this.pool.on('error', () => {});
  }

  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    const lock = `concierge:${this.schema}:migrate`;
    let broken: Error | undefined;
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lock]);
      try {
        const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema]);
        if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
        );
        const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
        const done = new Set(rows.map((r) => r.version));
        for (const [i, m] of POSTGRES_MIGRATIONS.entries()) {
          const version = i + 1;
          if (done.has(version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query(
              'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
              [version, m.name, Date.now()],
            );
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK');
            throw err;
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lock]);
      }
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // A connection that failed mid-migration may still hold the session lock: close it.
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.writes.run(async () => undefined);
    await this.pool.end();
  }

  /** Runs `work` in one transaction on one pooled connection; rolls back if it throws. */
  private async transaction<T>(work: (db: PoolClient) => Promise<T>, begin: string = BEGIN): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(begin);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async ensureWorkspace(id: WorkspaceId, name: string): Promise<void> {
    await run(this.pool, 'ensureWorkspace', [id, name, Date.now()]);
  }

  async getSetting(ws: WorkspaceId, key: string): Promise<string | null> {
    const { rows } = await run<{ value: string }>(this.pool, 'getSetting', [ws, key]);
    return rows[0]?.value ?? null;
  }

  async setSetting(ws: WorkspaceId, key: string, value: string): Promise<void> {
    await run(this.pool, 'setSetting', [ws, key, value]);
  }

  async createSource(ws: WorkspaceId, name: string, writeKeyHash: string): Promise<SourceRecord> {
    const row: SourceRow = {
      id: `src_${randomUUID().replace(/-/g, '')}`,
      workspace_id: ws,
      name,
      created_at: Date.now(),
    };
    await run(this.pool, 'createSource', [row.id, ws, name, writeKeyHash, row.created_at]);
    return toSource(row);
  }

  async findSourceByWriteKeyHash(hash: string): Promise<SourceRecord | null> {
    const { rows } = await run<SourceRow>(this.pool, 'sourceByHash', [hash]);
    return rows[0] ? toSource(rows[0]) : null;
  }

  async listSources(ws: WorkspaceId): Promise<SourceRecord[]> {
    const { rows } = await run<SourceRow>(this.pool, 'sources', [ws]);
    return rows.map(toSource);
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

  private async append(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
    withChanges: boolean,
  ): Promise<AppendResult> {
    if (groups.every((g) => g.length === 0)) {
      return { outcomes: groups.map(() => ({ stored: 0, duplicates: 0 })), changes: NO_CHANGES };
    }
    // Worked out from the events alone, while an earlier commit may still hold the connection.
    const plan = planAppend(groups, identity);
    return this.writes.run(async () => {
      if (this.checkStoredFor > 0) {
        this.checkStoredFor--;
        return this.appendOnce(plan, groups, identity, true, withChanges);
      }
      try {
        return await this.appendOnce(plan, groups, identity, false, withChanges);
      } catch (err) {
        if (!(err instanceof StoredBefore)) throw err;
        // Retries come in bursts: look up stored message ids first for the next commits.
        this.checkStoredFor = CHECK_STORED_AFTER_DUPLICATE;
        return this.appendOnce(plan, groups, identity, true, withChanges);
      }
    });
  }

  /**
   * One append transaction. Refused merges are reported once it is committed, so that a commit run
   * again does not report them twice.
   */
  private async appendOnce(
    plan: AppendPlan,
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
    checkStored: boolean,
    withChanges: boolean,
  ): Promise<AppendResult> {
    const refusals: Parameters<RefusalSink>[] = [];
    const client = await this.pool.connect();
    const tx = new PgAppend(client, this.schema);
    let broken: Error | undefined;
    try {
      await tx.begin(plan, checkStored);
      const collector = withChanges ? new ChangeCollector() : undefined;
      const outcomes = await applyEvents(
        tx,
        groups,
        identity,
        (ws, refused) => refusals.push([ws, refused]),
        collector,
      );
      const changes = collector ? await collector.finish(tx) : NO_CHANGES;
      await tx.commit();
      for (const [ws, refused] of refusals) this.onRefused?.(ws, refused);
      return { outcomes, changes };
    } catch (err) {
      await tx.settle();
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private toProfile(row: ProfileReadRow): Profile {
    return toProfile(row, row.identifiers, row.groups);
  }

  async findProfile(ws: WorkspaceId, kind: string, value: string): Promise<Profile | null> {
    const v = kind === 'email' ? value.trim().toLowerCase() : value;
    const { rows } = await run<ProfileReadRow>(this.pool, 'profileByIdentifier', [ws, kind, v]);
    return rows[0] ? this.toProfile(rows[0]) : null;
  }

  async getProfile(ws: WorkspaceId, id: ProfileId): Promise<Profile | null> {
    const { rows } = await run<ProfileReadRow>(this.pool, 'profileById', [ws, id]);
    return rows[0] ? this.toProfile(rows[0]) : null;
  }

  private async resolveId(db: Queryable, ws: WorkspaceId, id: ProfileId): Promise<ProfileId | null> {
    const { rows } = await run<{ id: string }>(db, 'resolveId', [ws, id]);
    return rows[0] ? asProfileId(rows[0].id) : null;
  }

  async listEvents(
    ws: WorkspaceId,
    id: ProfileId,
    limit: number,
    before: TimelineCursor | null,
  ): Promise<EventPage> {
    const { rows } = before
      ? await run<EventRow>(this.pool, 'eventsBefore', [ws, id, limit + 1, before.ts, before.seq])
      : await run<EventRow>(this.pool, 'eventsNewest', [ws, id, limit + 1]);
    return toEventPage(rows, limit);
  }

  async exportProfile(ws: WorkspaceId, id: ProfileId): Promise<ProfileExport | null> {
    // One snapshot for the whole export.
    return this.transaction(async (client) => {
      const { rows } = await run<ProfileReadRow>(client, 'profileById', [ws, id]);
      const row = rows[0];
      if (!row) return null;
      const merged = await run<{ from_id: string }>(client, 'mergedFrom', [row.id]);
      const events = await run<EventRow>(client, 'eventsAll', [row.id]);
      const groups = await run<{ group_id: string; traits: JsonObject }>(client, 'groupsOf', [ws, row.id]);
      return {
        profile: this.toProfile(row),
        mergedProfileIds: merged.rows.map((r) => asProfileId(r.from_id)),
        events: events.rows.map(toStoredEvent),
        groups: groups.rows.map((g) => ({ groupId: g.group_id, traits: g.traits })),
      };
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async eraseProfile(ws: WorkspaceId, id: ProfileId): Promise<ErasureReport | null> {
    return this.writes.run(() =>
      this.transaction(async (db) => {
        await run(db, 'lock', [`concierge:${this.schema}:ws:${ws}`]);
        const profileId = await this.resolveId(db, ws, id);
        if (profileId === null) return null;
        const { rows } = await run<{ events: number; identifiers: number }>(db, 'erase', [profileId]);
        return { profileId, events: rows[0]?.events ?? 0, identifiers: rows[0]?.identifiers ?? 0 };
      }),
    );
  }

  async maxSeq(ws: WorkspaceId): Promise<number> {
    const { rows } = await run<{ max: string | null }>(this.pool, 'maxSeq', [ws]);
    return Number(rows[0]?.max ?? 0);
  }

  async scanEvents(
    ws: WorkspaceId,
    range: { afterSeq: number; upToSeq: number; limit: number; names?: readonly string[] },
  ): Promise<ScannedEvent[]> {
    const { rows } =
      range.names === undefined
        ? await run<ScanRow>(this.pool, 'scanEvents', [ws, range.afterSeq, range.upToSeq, range.limit])
        : await run<ScanRow>(this.pool, 'scanNamedEvents', [
            ws,
            range.afterSeq,
            range.upToSeq,
            range.limit,
            range.names,
          ]);
    return rows.map((r) => ({
      seq: Number(r.seq),
      profileId: asProfileId(r.profile_id),
      sourceId: asSourceId(r.source_id),
      type: r.type,
      name: r.name,
      timestamp: Number(r.ts),
      body: r.body,
    }));
  }

  async scanProfiles(
    ws: WorkspaceId,
    afterId: string,
    limit: number,
  ): Promise<{ id: ProfileId; traits: JsonObject }[]> {
    const { rows } = await run<{ id: string; traits: JsonObject }>(this.pool, 'scanProfiles', [
      ws,
      afterId,
      limit,
    ]);
    return rows.map((r) => ({ id: asProfileId(r.id), traits: r.traits }));
  }

  async counts(ws: WorkspaceId): Promise<{ events: number; profiles: number }> {
    const { rows } = await run<{ events: string; profiles: string }>(this.pool, 'counts', [ws]);
    return { events: Number(rows[0]?.events ?? 0), profiles: Number(rows[0]?.profiles ?? 0) };
  }
}
