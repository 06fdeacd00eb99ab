import { randomUUID } from 'node:crypto';
import type { PoolClient, QueryResultRow } from 'pg';
import pg from 'pg';
import type { JsonObject, NormalizedEvent } from '../../core/event.ts';
import type { OwnerRef } from '../../core/identity.ts';
import { asProfileId, asSourceId, asWorkspaceId, type ProfileId, type WorkspaceId } from '../../core/ids.ts';
import type { Identifier, Profile } from '../../core/profile.ts';
import { applyTraits, EMPTY_TRAITS, type VersionedTraits } from '../../core/traits.ts';
import { type AppendTx, applyEvents, type RefusalSink, type TraitColumn } from '../apply-events.ts';
import type {
  AppendOutcome,
  ErasureReport,
  EventPage,
  IdentityConfig,
  ProfileExport,
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
import { POSTGRES_MIGRATIONS } from './migrations.ts';

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

type Queryable = Pick<PoolClient, 'query'>;
type SourceRow = { id: string; workspace_id: string; name: string; created_at: number | string };
type ProfileReadRow = ProfileRow & { identifiers: IdentifierRow[]; groups: string[] };
type VersionedRow = { traits: JsonObject; trait_versions: JsonObject };
type StateRow = VersionedRow & { id: string; consent: JsonObject; consent_versions: JsonObject };

const toSource = (r: SourceRow): SourceRecord => ({
  id: asSourceId(r.id),
  workspaceId: asWorkspaceId(r.workspace_id),
  name: r.name,
  createdAt: new Date(Number(r.created_at)).toISOString(),
});

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Resolves `$2` (a profile id, possibly of a profile merged into another) within workspace `$1`. */
const RESOLVE_ID = `SELECT id FROM profiles WHERE id = $2 AND workspace_id = $1
  UNION ALL SELECT to_id FROM profile_merges WHERE from_id = $2 AND workspace_id = $1`;
/** The owner of identifier (`$2`, `$3`) in workspace `$1`. */
const RESOLVE_IDENTIFIER =
  'SELECT profile_id AS id FROM identifiers WHERE workspace_id = $1 AND kind = $2 AND value = $3';

/** One profile with its identifiers and groups, read in one statement (one snapshot). */
const profileSelect = (target: string): string => `
WITH target AS (${target})
SELECT p.id, p.traits, p.consent, p.created_at, p.updated_at,
  COALESCE((SELECT json_agg(json_build_object('kind', i.kind, 'value', i.value)
              ORDER BY i.created_at, i.kind COLLATE "C", i.value COLLATE "C")
            FROM identifiers i WHERE i.profile_id = p.id), '[]') AS identifiers,
  ARRAY(SELECT g.group_id FROM profile_groups g WHERE g.profile_id = p.id ORDER BY g.group_id COLLATE "C") AS groups
FROM profiles p WHERE p.workspace_id = $1 AND p.id = (SELECT id FROM target LIMIT 1)`;

/** CTEs `target` and `resolved`: the id of the live profile `$2` names in workspace `$1`, if any. */
const RESOLVED_PROFILE = `target AS (${RESOLVE_ID}),
  resolved AS (SELECT p.id FROM profiles p WHERE p.workspace_id = $1 AND p.id = (SELECT id FROM target LIMIT 1))`;
const EVENT_COLUMNS =
  'e.seq, e.profile_id, e.source_id, e.message_id, e.type, e.name, e.ts, e.received_at, e.body';
const USER_IDS_OF = (profile: string) =>
  `ARRAY(SELECT u.value FROM identifiers u WHERE u.profile_id = ${profile} AND u.kind = 'user_id'
         ORDER BY u.created_at, u.value COLLATE "C")`;

/** Every statement the adapter runs with parameters; each is prepared once per connection. */
const SQL = {
  lock: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
  owners: `SELECT i.kind, i.value, i.profile_id, ${USER_IDS_OF('i.profile_id')} AS user_ids
    FROM unnest($2::text[], $3::text[]) AS k(kind, value)
    JOIN identifiers i ON i.workspace_id = $1 AND i.kind = k.kind AND i.value = k.value`,
  owner: `SELECT i.profile_id, ${USER_IDS_OF('i.profile_id')} AS user_ids
    FROM identifiers i WHERE i.workspace_id = $1 AND i.kind = $2 AND i.value = $3`,
  userIds: `SELECT ${USER_IDS_OF('$1')} AS user_ids`,
  storedMessages: `SELECT e.source_id, e.message_id FROM unnest($1::text[], $2::text[]) AS k(source_id, message_id)
    JOIN events e ON e.source_id = k.source_id AND e.message_id = k.message_id`,
  profileStates:
    'SELECT id, traits, trait_versions, consent, consent_versions FROM profiles WHERE id = ANY($1::text[])',
  groupStates:
    'SELECT group_id, traits, trait_versions FROM groups WHERE workspace_id = $1 AND group_id = ANY($2::text[])',
  fold: `WITH moved_identifiers AS (UPDATE identifiers SET profile_id = $2 WHERE profile_id = $1),
    moved_events AS (UPDATE events SET profile_id = $2 WHERE profile_id = $1),
    copied_groups AS (INSERT INTO profile_groups (profile_id, group_id, workspace_id)
      SELECT $2, group_id, workspace_id FROM profile_groups WHERE profile_id = $1 ON CONFLICT DO NOTHING),
    dropped_groups AS (DELETE FROM profile_groups WHERE profile_id = $1),
    dropped_profile AS (DELETE FROM profiles WHERE id = $1),
    repointed AS (UPDATE profile_merges SET to_id = $2 WHERE to_id = $1)
    INSERT INTO profile_merges (from_id, workspace_id, to_id, merged_at) VALUES ($1, $3, $2, $4)
    ON CONFLICT (from_id) DO UPDATE SET workspace_id = excluded.workspace_id, to_id = excluded.to_id,
      merged_at = excluded.merged_at`,
  insertProfiles: `INSERT INTO profiles
      (id, workspace_id, traits, trait_versions, consent, consent_versions, created_at, updated_at)
    SELECT id, ws, t::json, tv::json, c::json, cv::json, ca, ua
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
      AS u(id, ws, t, tv, c, cv, ca, ua)`,
  updateProfiles: `UPDATE profiles p SET traits = COALESCE(u.t::json, p.traits),
      trait_versions = COALESCE(u.tv::json, p.trait_versions), consent = COALESCE(u.c::json, p.consent),
      consent_versions = COALESCE(u.cv::json, p.consent_versions), updated_at = GREATEST(p.updated_at, u.ua)
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS u(id, t, tv, c, cv, ua)
    WHERE p.id = u.id`,
  insertIdentifiers: `INSERT INTO identifiers (workspace_id, kind, value, profile_id, created_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])`,
  upsertGroups: `INSERT INTO groups (workspace_id, group_id, traits, trait_versions, created_at, updated_at)
    SELECT ws, g, t::json, tv::json, ca, ua
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) AS u(ws, g, t, tv, ca, ua)
    ON CONFLICT (workspace_id, group_id) DO UPDATE SET traits = excluded.traits,
      trait_versions = excluded.trait_versions, updated_at = excluded.updated_at`,
  linkGroups: `INSERT INTO profile_groups (profile_id, group_id, workspace_id)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
  insertEvents: `WITH inserted AS (
      INSERT INTO events (workspace_id, source_id, message_id, profile_id, type, name, ts, received_at, body)
      SELECT w, s, m, p, t, n, ts, ra, b::json
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                  $8::bigint[], $9::text[]) AS u(w, s, m, p, t, n, ts, ra, b)
      ON CONFLICT (source_id, message_id) DO NOTHING RETURNING 1)
    SELECT count(*)::int AS n FROM inserted`,

  ensureWorkspace:
    'INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
  getSetting: 'SELECT value FROM settings WHERE workspace_id = $1 AND key = $2',
  setSetting: `INSERT INTO settings (workspace_id, key, value) VALUES ($1, $2, $3)
    ON CONFLICT (workspace_id, key) DO UPDATE SET value = excluded.value`,
  createSource:
    'INSERT INTO sources (id, workspace_id, name, write_key_hash, created_at) VALUES ($1, $2, $3, $4, $5)',
  sourceByHash: 'SELECT id, workspace_id, name, created_at FROM sources WHERE write_key_hash = $1',
  sources:
    'SELECT id, workspace_id, name, created_at FROM sources WHERE workspace_id = $1 ORDER BY created_at, id',

  profileById: profileSelect(RESOLVE_ID),
  profileByIdentifier: profileSelect(RESOLVE_IDENTIFIER),
  resolveId: `WITH ${RESOLVED_PROFILE} SELECT id FROM resolved`,
  eventsNewest: `WITH ${RESOLVED_PROFILE} SELECT ${EVENT_COLUMNS} FROM events e
    WHERE e.profile_id = (SELECT id FROM resolved) ORDER BY e.ts DESC, e.seq DESC LIMIT $3`,
  eventsBefore: `WITH ${RESOLVED_PROFILE} SELECT ${EVENT_COLUMNS} FROM events e
    WHERE e.profile_id = (SELECT id FROM resolved) AND (e.ts, e.seq) < ($4::bigint, $5::bigint)
    ORDER BY e.ts DESC, e.seq DESC LIMIT $3`,
  eventsAll: `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.profile_id = $1 ORDER BY e.ts, e.seq`,
  mergedFrom: 'SELECT from_id FROM profile_merges WHERE to_id = $1 ORDER BY merged_at, from_id COLLATE "C"',
  groupsOf: `SELECT pg.group_id, COALESCE(g.traits, '{}') AS traits FROM profile_groups pg
    LEFT JOIN groups g ON g.workspace_id = $1 AND g.group_id = pg.group_id
    WHERE pg.profile_id = $2 ORDER BY pg.group_id COLLATE "C"`,
  erase: `WITH erased_identifiers AS (DELETE FROM identifiers WHERE profile_id = $1 RETURNING 1),
    erased_events AS (DELETE FROM events WHERE profile_id = $1 RETURNING 1),
    erased_groups AS (DELETE FROM profile_groups WHERE profile_id = $1),
    erased_merges AS (DELETE FROM profile_merges WHERE to_id = $1 OR from_id = $1),
    erased_profile AS (DELETE FROM profiles WHERE id = $1)
    SELECT (SELECT count(*) FROM erased_events)::int AS events,
      (SELECT count(*) FROM erased_identifiers)::int AS identifiers`,
  counts: `SELECT (SELECT count(*) FROM events WHERE workspace_id = $1) AS events,
    (SELECT count(*) FROM profiles WHERE workspace_id = $1) AS profiles`,
} as const;

/** Runs one of the statements above as a named (prepared) statement. */
function run<R extends QueryResultRow>(db: Queryable, name: keyof typeof SQL, values: readonly unknown[]) {
  return db.query<R>({ name: `concierge_${name}`, text: SQL[name], values: values as unknown[] });
}

const ownerKey = (ws: string, kind: string, value: string): string => `${ws}\u0000${kind}\u0000${value}`;
const messageKey = (source: string, messageId: string): string => `${source}\u0000${messageId}`;
const groupKey = (ws: string, groupId: string): string => `${ws}\u0000${groupId}`;

/** The same normalisation `applyEvents` uses for identifier traits; only used to prefetch. */
const identifierTraitValue = (kind: string, v: unknown): string | null => {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  const s = String(v).trim();
  if (s === '') return null;
  return kind === 'email' ? s.toLowerCase() : s;
};

/** What one transaction knows and has changed about a profile. */
interface ProfileState {
  /** The workspace of a profile created in this transaction (not yet in the table); else null. */
  readonly newIn: WorkspaceId | null;
  readonly createdAt: number;
  /** The latest `at` this transaction touched the profile with (updated_at = max(updated_at, it)). */
  touchedAt: number | null;
  /** Undefined until loaded. */
  traits: VersionedTraits | undefined;
  consent: VersionedTraits | undefined;
  traitsDirty: boolean;
  consentDirty: boolean;
}

interface GroupState {
  readonly ws: WorkspaceId;
  readonly groupId: string;
  traits: VersionedTraits;
  exists: boolean;
  dirty: boolean;
  createdAt: number;
  updatedAt: number;
}

/**
 * One append transaction, implementing `AppendTx`. After taking the workspace locks it reads in a
 * few batched queries everything the events will ask about (identifier owners, stored message ids,
 * profile traits, groups), serves `applyEvents` from memory, and writes new rows in bulk at the
 * end. Folds run at once, since they move rows already in the tables; rows still buffered follow
 * the fold through `mergedInto`. All of this lives only as long as the transaction: another
 * process may write between two transactions, so nothing is cached across them.
 */
class PgAppend implements AppendTx {
  private readonly owners = new Map<string, ProfileId | null>();
  private readonly userIds = new Map<ProfileId, string[]>();
  private readonly profiles = new Map<ProfileId, ProfileState>();
  private readonly mergedInto = new Map<ProfileId, ProfileId>();
  private readonly messages = new Set<string>();
  private readonly groups = new Map<string, GroupState>();
  private readonly newIdentifiers: { ws: WorkspaceId; id: Identifier; profile: ProfileId; at: number }[] = [];
  private readonly newEvents: { ev: NormalizedEvent; profile: ProfileId }[] = [];
  private readonly newLinks: { ws: WorkspaceId; groupId: string; profile: ProfileId }[] = [];

  constructor(
    private readonly db: Queryable,
    private readonly schema: string,
  ) {}

  /** Locks the batch's workspaces (in a fixed order) and prefetches what the events refer to. */
  async prepare(
    batches: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
  ): Promise<void> {
    const byWs = new Map<
      WorkspaceId,
      { ids: Map<string, Identifier>; groups: Set<string>; rich: Set<string> }
    >();
    const sources: string[] = [];
    const messageIds: string[] = [];
    const seenMessages = new Set<string>();
    for (const batch of batches) {
      for (const ev of batch) {
        let ws = byWs.get(ev.workspaceId);
        if (ws === undefined) {
          ws = { ids: new Map(), groups: new Set(), rich: new Set() };
          byWs.set(ev.workspaceId, ws);
        }
        const add = (kind: string, value: string | null) => {
          if (value === null) return;
          const key = ownerKey(ev.workspaceId, kind, value);
          if (!ws.ids.has(key)) ws.ids.set(key, { kind, value });
          // Events that read or write traits: prefetch their profiles' traits too.
          if (ev.type === 'identify' || ev.type === 'alias' || ev.consent !== null) ws.rich.add(key);
        };
        add('user_id', ev.userId);
        add('anonymous_id', ev.anonymousId);
        if (ev.type === 'alias') {
          add('user_id', ev.previousId);
          add('anonymous_id', ev.previousId);
        }
        if (ev.type === 'identify') {
          for (const kind of identity(ev.workspaceId).identifierTraits) {
            add(kind, identifierTraitValue(kind, ev.traits[kind]));
          }
        }
        if (ev.type === 'group' && ev.groupId !== null) ws.groups.add(ev.groupId);
        const mk = messageKey(ev.sourceId, ev.messageId);
        if (!seenMessages.has(mk)) {
          seenMessages.add(mk);
          sources.push(ev.sourceId);
          messageIds.push(ev.messageId);
        }
      }
    }

    const order = [...byWs.keys()].sort();
    for (const ws of order) await run(this.db, 'lock', [`concierge:${this.schema}:ws:${ws}`]);

    const stored = await run<{ source_id: string; message_id: string }>(this.db, 'storedMessages', [
      sources,
      messageIds,
    ]);
    for (const r of stored.rows) this.messages.add(messageKey(r.source_id, r.message_id));

    const rich = new Set<ProfileId>();
    for (const ws of order) {
      const want = byWs.get(ws)!;
      const kinds: string[] = [];
      const values: string[] = [];
      for (const [key, id] of want.ids) {
        this.owners.set(key, null);
        kinds.push(id.kind);
        values.push(id.value);
      }
      const found = await run<{ kind: string; value: string; profile_id: string; user_ids: string[] }>(
        this.db,
        'owners',
        [ws, kinds, values],
      );
      for (const r of found.rows) {
        const key = ownerKey(ws, r.kind, r.value);
        const profile = asProfileId(r.profile_id);
        this.owners.set(key, profile);
        this.userIds.set(profile, r.user_ids);
        if (want.rich.has(key)) rich.add(profile);
      }
      if (want.groups.size > 0) {
        const groupIds = [...want.groups];
        const rows = await run<VersionedRow & { group_id: string }>(this.db, 'groupStates', [ws, groupIds]);
        for (const r of rows.rows) {
          this.groups.set(groupKey(ws, r.group_id), {
            ws,
            groupId: r.group_id,
            traits: toVersioned(r.traits, r.trait_versions),
            exists: true,
            dirty: false,
            createdAt: 0,
            updatedAt: 0,
          });
        }
      }
    }
    if (rich.size > 0) await this.loadStates([...rich]);
  }

  private async loadStates(ids: readonly ProfileId[]): Promise<void> {
    const rows = await run<StateRow>(this.db, 'profileStates', [ids]);
    for (const r of rows.rows) {
      const state = this.stateOf(asProfileId(r.id));
      state.traits ??= toVersioned(r.traits, r.trait_versions);
      state.consent ??= toVersioned(r.consent, r.consent_versions);
    }
  }

  private resolve(profile: ProfileId): ProfileId {
    let p = profile;
    for (let next = this.mergedInto.get(p); next !== undefined; next = this.mergedInto.get(p)) p = next;
    return p;
  }

  /** The state of a profile that exists in the table (or was created in this transaction). */
  private stateOf(profile: ProfileId): ProfileState {
    let state = this.profiles.get(profile);
    if (state === undefined) {
      state = {
        newIn: null,
        createdAt: 0,
        touchedAt: null,
        traits: undefined,
        consent: undefined,
        traitsDirty: false,
        consentDirty: false,
      };
      this.profiles.set(profile, state);
    }
    return state;
  }

  private touch(profile: ProfileId, at: number): ProfileState {
    const state = this.stateOf(profile);
    state.touchedAt = state.touchedAt === null ? at : Math.max(state.touchedAt, at);
    return state;
  }

  private async userIdsOf(profile: ProfileId): Promise<string[]> {
    const cached = this.userIds.get(profile);
    if (cached !== undefined) return cached;
    const { rows } = await run<{ user_ids: string[] }>(this.db, 'userIds', [profile]);
    const ids = rows[0]?.user_ids ?? [];
    this.userIds.set(profile, ids);
    return ids;
  }

  async ownerOf(ws: WorkspaceId, id: Identifier): Promise<OwnerRef | null> {
    const key = ownerKey(ws, id.kind, id.value);
    let owner = this.owners.get(key);
    if (owner === undefined) {
      // Not prefetched: ask the table (folds already ran there; buffered identifiers are cached).
      const { rows } = await run<{ profile_id: string; user_ids: string[] }>(this.db, 'owner', [
        ws,
        id.kind,
        id.value,
      ]);
      const row = rows[0];
      owner = row === undefined ? null : asProfileId(row.profile_id);
      this.owners.set(key, owner);
      if (row !== undefined && owner !== null && !this.userIds.has(owner))
        this.userIds.set(owner, row.user_ids);
    }
    if (owner === null) return null;
    const profile = this.resolve(owner);
    return { id: profile, userIds: await this.userIdsOf(profile) };
  }

  async createProfile(ws: WorkspaceId, at: number): Promise<ProfileId> {
    const id = asProfileId(uuid7(at));
    this.profiles.set(id, {
      newIn: ws,
      createdAt: at,
      touchedAt: at,
      traits: EMPTY_TRAITS,
      consent: EMPTY_TRAITS,
      traitsDirty: false,
      consentDirty: false,
    });
    this.userIds.set(id, []);
    return id;
  }

  async attach(ws: WorkspaceId, profile: ProfileId, id: Identifier, at: number): Promise<void> {
    const key = ownerKey(ws, id.kind, id.value);
    const current = this.owners.get(key);
    // An event can carry one identifier twice (an alias whose previousId is its anonymousId).
    if (current !== undefined && current !== null && this.resolve(current) === profile) return;
    const userIds = id.kind === 'user_id' ? await this.userIdsOf(profile) : null;
    this.newIdentifiers.push({ ws, id, profile, at });
    this.owners.set(key, profile);
    if (userIds !== null) this.userIds.set(profile, [...userIds, id.value]);
    this.touch(profile, at);
  }

  async fold(ws: WorkspaceId, from: ProfileId, into: ProfileId, at: number): Promise<void> {
    const fromUsers = await this.userIdsOf(from);
    const intoUsers = await this.userIdsOf(into);
    await run(this.db, 'fold', [from, into, ws, at]);
    this.mergedInto.set(from, into);
    this.profiles.delete(from);
    this.userIds.delete(from);
    this.userIds.set(into, [...intoUsers, ...fromUsers]);
    this.touch(into, at);
  }

  async loadTraits(_ws: WorkspaceId, profile: ProfileId, column: TraitColumn): Promise<VersionedTraits> {
    let state = this.stateOf(profile);
    if (state[column] === undefined) {
      await this.loadStates([profile]);
      state = this.stateOf(profile);
    }
    return state[column] ?? EMPTY_TRAITS;
  }

  async saveTraits(
    _ws: WorkspaceId,
    profile: ProfileId,
    column: TraitColumn,
    t: VersionedTraits,
    at: number,
  ): Promise<void> {
    const state = this.touch(profile, at);
    state[column] = t;
    if (column === 'traits') state.traitsDirty = true;
    else state.consentDirty = true;
  }

  async upsertGroup(ev: NormalizedEvent, profile: ProfileId): Promise<void> {
    const groupId = ev.groupId!;
    const key = groupKey(ev.workspaceId, groupId);
    let group = this.groups.get(key);
    if (group === undefined) {
      const { rows } = await run<VersionedRow & { group_id: string }>(this.db, 'groupStates', [
        ev.workspaceId,
        [groupId],
      ]);
      const row = rows[0];
      group = {
        ws: ev.workspaceId,
        groupId,
        traits: row ? toVersioned(row.traits, row.trait_versions) : EMPTY_TRAITS,
        exists: row !== undefined,
        dirty: false,
        createdAt: 0,
        updatedAt: 0,
      };
      this.groups.set(key, group);
    }
    const next = applyTraits(group.traits, ev.traits, [ev.timestamp, ev.messageId]);
    if (next !== group.traits || !group.exists) {
      if (!group.exists) group.createdAt = ev.receivedAt;
      group.traits = next;
      group.exists = true;
      group.dirty = true;
      group.updatedAt = ev.receivedAt;
    }
    this.newLinks.push({ ws: ev.workspaceId, groupId, profile });
  }

  async insertEvent(ev: NormalizedEvent, profile: ProfileId): Promise<boolean> {
    const key = messageKey(ev.sourceId, ev.messageId);
    if (this.messages.has(key)) return false;
    this.messages.add(key);
    this.newEvents.push({ ev, profile });
    return true;
  }

  /** Writes everything buffered, a few bulk statements in all. */
  async flush(): Promise<void> {
    const json = (t: VersionedTraits | undefined, dirty: boolean, part: 'values' | 'versions') =>
      t !== undefined && dirty ? JSON.stringify(t[part]) : null;

    const created: ProfileId[] = [];
    const updated: ProfileId[] = [];
    for (const [id, s] of this.profiles) {
      if (s.newIn !== null) created.push(id);
      else if (s.touchedAt !== null || s.traitsDirty || s.consentDirty) updated.push(id);
    }
    if (created.length > 0) {
      const states = created.map((id) => this.profiles.get(id)!);
      await run(this.db, 'insertProfiles', [
        created,
        states.map((s) => s.newIn),
        states.map((s) => JSON.stringify((s.traits ?? EMPTY_TRAITS).values)),
        states.map((s) => JSON.stringify((s.traits ?? EMPTY_TRAITS).versions)),
        states.map((s) => JSON.stringify((s.consent ?? EMPTY_TRAITS).values)),
        states.map((s) => JSON.stringify((s.consent ?? EMPTY_TRAITS).versions)),
        states.map((s) => s.createdAt),
        states.map((s) => Math.max(s.createdAt, s.touchedAt ?? s.createdAt)),
      ]);
    }
    if (updated.length > 0) {
      const states = updated.map((id) => this.profiles.get(id)!);
      await run(this.db, 'updateProfiles', [
        updated,
        states.map((s) => json(s.traits, s.traitsDirty, 'values')),
        states.map((s) => json(s.traits, s.traitsDirty, 'versions')),
        states.map((s) => json(s.consent, s.consentDirty, 'values')),
        states.map((s) => json(s.consent, s.consentDirty, 'versions')),
        states.map((s) => s.touchedAt),
      ]);
    }
    if (this.newIdentifiers.length > 0) {
      const rows = this.newIdentifiers;
      await run(this.db, 'insertIdentifiers', [
        rows.map((r) => r.ws),
        rows.map((r) => r.id.kind),
        rows.map((r) => r.id.value),
        rows.map((r) => this.resolve(r.profile)),
        rows.map((r) => r.at),
      ]);
    }
    const groups = [...this.groups.values()].filter((g) => g.dirty);
    if (groups.length > 0) {
      await run(this.db, 'upsertGroups', [
        groups.map((g) => g.ws),
        groups.map((g) => g.groupId),
        groups.map((g) => JSON.stringify(g.traits.values)),
        groups.map((g) => JSON.stringify(g.traits.versions)),
        groups.map((g) => g.createdAt),
        groups.map((g) => g.updatedAt),
      ]);
    }
    if (this.newLinks.length > 0) {
      const links = new Map<string, { ws: WorkspaceId; groupId: string; profile: ProfileId }>();
      for (const l of this.newLinks) {
        const profile = this.resolve(l.profile);
        links.set(`${profile}\u0000${l.groupId}`, { ...l, profile });
      }
      const rows = [...links.values()];
      await run(this.db, 'linkGroups', [
        rows.map((r) => r.profile),
        rows.map((r) => r.groupId),
        rows.map((r) => r.ws),
      ]);
    }
    if (this.newEvents.length > 0) {
      const rows = this.newEvents;
      const { rows: result } = await run<{ n: number }>(this.db, 'insertEvents', [
        rows.map((r) => r.ev.workspaceId),
        rows.map((r) => r.ev.sourceId),
        rows.map((r) => r.ev.messageId),
        rows.map((r) => this.resolve(r.profile)),
        rows.map((r) => r.ev.type),
        rows.map((r) => r.ev.name),
        rows.map((r) => r.ev.timestamp),
        rows.map((r) => r.ev.receivedAt),
        rows.map((r) => r.ev.bodyJson),
      ]);
      const inserted = result[0]?.n ?? 0;
      if (inserted !== rows.length) {
        // Only a writer that skips the workspace lock can get here; the transaction is rolled back.
        throw new Error(
          `another writer stored ${rows.length - inserted} of these events during the commit; nothing was stored`,
        );
      }
    }
  }
}

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

  /**
   * Runs `work` in one transaction on one pooled connection; rolls back if it throws. READ COMMITTED
   * whatever the server's default, so that statements after the workspace lock see every commit
   * made before it was granted.
   */
  private async transaction<T>(work: (db: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
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

  appendEvents(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
  ): Promise<AppendOutcome[]> {
    if (groups.every((g) => g.length === 0))
      return Promise.resolve(groups.map(() => ({ stored: 0, duplicates: 0 })));
    return this.writes.run(() =>
      this.transaction(async (db) => {
        const tx = new PgAppend(db, this.schema);
        await tx.prepare(groups, identity);
        const outcomes = await applyEvents(tx, groups, identity, this.onRefused);
        await tx.flush();
        return outcomes;
      }),
    );
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
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      // One snapshot for the whole export.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await run<ProfileReadRow>(client, 'profileById', [ws, id]);
      const row = rows[0];
      let result: ProfileExport | null = null;
      if (row) {
        const merged = await run<{ from_id: string }>(client, 'mergedFrom', [row.id]);
        const events = await run<EventRow>(client, 'eventsAll', [row.id]);
        const groups = await run<{ group_id: string; traits: JsonObject }>(client, 'groupsOf', [ws, row.id]);
        result = {
          profile: this.toProfile(row),
          mergedProfileIds: merged.rows.map((r) => asProfileId(r.from_id)),
          events: events.rows.map(toStoredEvent),
          groups: groups.rows.map((g) => ({ groupId: g.group_id, traits: g.traits })),
        };
      }
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

  async counts(ws: WorkspaceId): Promise<{ events: number; profiles: number }> {
    const { rows } = await run<{ events: string; profiles: string }>(this.pool, 'counts', [ws]);
    return { events: Number(rows[0]?.events ?? 0), profiles: Number(rows[0]?.profiles ?? 0) };
  }
}
