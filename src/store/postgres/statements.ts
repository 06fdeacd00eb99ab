import type { PoolClient, QueryResultRow } from 'pg';

export type Queryable = Pick<PoolClient, 'query'>;

/**
 * Write transactions are READ COMMITTED whatever the server's default, so that statements after the
 * workspace lock see every commit made before it was granted.
 */
export const BEGIN = 'BEGIN ISOLATION LEVEL READ COMMITTED';

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

/**
 * Every statement the adapter runs with parameters; each is prepared once per connection.
 *
 * The append statements take whole columns as array parameters (sent in binary, see
 * `binary-arrays.ts`), so a commit costs the same handful of statements however many events it
 * holds. Look-ups by key are written as scalar subqueries, which Postgres always runs as one index
 * probe per key: a join could be planned as a hash join over a whole workspace's rows. Statements that
 * write by profile id also filter with `= ANY(ids)`, for the same reason.
 */
const SQL = {
  /** Appends: the per-workspace lock, then bulk reads. */
  lock: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
  storedMessages: `SELECT k.source_id, k.message_id FROM unnest($1::text[], $2::text[]) AS k(source_id, message_id)
    WHERE (SELECT true FROM events e WHERE e.source_id = k.source_id AND e.message_id = k.message_id)`,
  /**
   * Owners of identifiers (`$2` kinds, `$3` values) in workspace `$1`: a row per owned identifier
   * with its position in the arrays (`n`, from 1), then a row per owning profile (`n` null) with its
   * user ids and, if it owns an identifier flagged in `$4`, its traits and consent as
   * `[traits, trait_versions, consent, consent_versions]`.
   */
  owners: `WITH found AS (
      SELECT k.n, k.rich, (SELECT i.profile_id FROM identifiers i
          WHERE i.workspace_id = $1 AND i.kind = k.kind AND i.value = k.value) AS profile_id
      FROM unnest($2::text[], $3::text[], $4::boolean[]) WITH ORDINALITY AS k(kind, value, rich, n))
    SELECT f.n::int AS n, f.profile_id, NULL::text[] AS user_ids, NULL::json AS state
    FROM found f WHERE f.profile_id IS NOT NULL
    UNION ALL
    SELECT NULL, o.profile_id, ${USER_IDS_OF('o.profile_id')},
      CASE WHEN o.rich THEN (SELECT json_build_array(p.traits, p.trait_versions, p.consent, p.consent_versions)
                             FROM profiles p WHERE p.id = o.profile_id) END
    FROM (SELECT profile_id, bool_or(rich) AS rich FROM found WHERE profile_id IS NOT NULL GROUP BY profile_id) o`,
  owner: `SELECT i.profile_id, ${USER_IDS_OF('i.profile_id')} AS user_ids
    FROM identifiers i WHERE i.workspace_id = $1 AND i.kind = $2 AND i.value = $3`,
  userIds: `SELECT ${USER_IDS_OF('$1')} AS user_ids`,
  profileStates:
    'SELECT id, traits, trait_versions, consent, consent_versions FROM profiles WHERE id = ANY($1::text[])',
  groupStates:
    'SELECT group_id, traits, trait_versions FROM groups WHERE workspace_id = $1 AND group_id = ANY($2::text[])',

  /** Appends: the buffered writes, one statement each. */
  insertProfiles: `INSERT INTO profiles
      (id, workspace_id, traits, trait_versions, consent, consent_versions, created_at, updated_at)
    SELECT id, ws, t::json, tv::json, c::json, cv::json, ca, ua
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
      AS u(id, ws, t, tv, c, cv, ca, ua)`,
  /**
   * Folds profiles `$1` into `$2` (each the final survivor) in workspaces `$3` at times `$4`: moves
   * their identifiers, events and group links, deletes them, re-points earlier merges into them and
   * records the merges.
   */
  fold: `WITH m AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS m(from_id, to_id, ws, at)),
    moved_identifiers AS (UPDATE identifiers i SET profile_id = m.to_id FROM m
      WHERE i.profile_id = ANY($1::text[]) AND i.profile_id = m.from_id),
    moved_events AS (UPDATE events e SET profile_id = m.to_id FROM m
      WHERE e.profile_id = ANY($1::text[]) AND e.profile_id = m.from_id),
    copied_groups AS (INSERT INTO profile_groups (profile_id, group_id, workspace_id)
      SELECT DISTINCT m.to_id, g.group_id, g.workspace_id FROM profile_groups g JOIN m ON g.profile_id = m.from_id
      WHERE g.profile_id = ANY($1::text[]) ON CONFLICT DO NOTHING),
    dropped_groups AS (DELETE FROM profile_groups WHERE profile_id = ANY($1::text[])),
    dropped_profiles AS (DELETE FROM profiles WHERE id = ANY($1::text[])),
    repointed AS (UPDATE profile_merges pm SET to_id = m.to_id FROM m
      WHERE pm.to_id = ANY($1::text[]) AND pm.to_id = m.from_id)
    INSERT INTO profile_merges (from_id, workspace_id, to_id, merged_at) SELECT from_id, ws, to_id, at FROM m
    ON CONFLICT (from_id) DO UPDATE SET workspace_id = excluded.workspace_id, to_id = excluded.to_id,
      merged_at = excluded.merged_at`,
  updateProfiles: `UPDATE profiles p SET traits = COALESCE(u.t::json, p.traits),
      trait_versions = COALESCE(u.tv::json, p.trait_versions), consent = COALESCE(u.c::json, p.consent),
      consent_versions = COALESCE(u.cv::json, p.consent_versions), updated_at = GREATEST(p.updated_at, u.ua)
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS u(id, t, tv, c, cv, ua)
    WHERE p.id = ANY($1::text[]) AND p.id = u.id`,
  insertIdentifiers: `INSERT INTO identifiers (workspace_id, kind, value, profile_id, created_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])`,
  upsertGroups: `INSERT INTO groups (workspace_id, group_id, traits, trait_versions, created_at, updated_at)
    SELECT ws, g, t::json, tv::json, ca, ua
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) AS u(ws, g, t, tv, ca, ua)
    ON CONFLICT (workspace_id, group_id) DO UPDATE SET traits = excluded.traits,
      trait_versions = excluded.trait_versions, updated_at = excluded.updated_at`,
  linkGroups: `INSERT INTO profile_groups (profile_id, group_id, workspace_id)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
  /**
   * A plain INSERT: duplicates were left out under the workspace lock, so a conflict can only come
   * from a writer that skipped the lock, and fails the commit.
   */
  insertEvents: `INSERT INTO events (workspace_id, source_id, message_id, profile_id, type, name, ts, received_at, body)
    SELECT w, s, m, p, t, n, ts, ra, b::json
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                $8::bigint[], $9::text[]) AS u(w, s, m, p, t, n, ts, ra, b)`,

  // Merges move events to the surviving profile, so profile_id is always current.
  maxSeq: 'SELECT max(seq) AS max FROM events WHERE workspace_id = $1',
  scanEvents: `SELECT seq, profile_id, source_id, type, name, ts, body FROM events
    WHERE seq > $2 AND seq <= $3 AND workspace_id = $1 ORDER BY seq LIMIT $4`,
  scanNamedEvents: `SELECT seq, profile_id, source_id, type, name, ts, body FROM events
    WHERE seq > $2 AND seq <= $3 AND workspace_id = $1 AND name = ANY($5::text[]) ORDER BY seq LIMIT $4`,
  scanProfiles: 'SELECT id, traits FROM profiles WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3',

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

export type StatementName = keyof typeof SQL;

/** Runs one of the statements above as a named (prepared) statement. */
export function run<R extends QueryResultRow>(
  db: Queryable,
  name: StatementName,
  values: readonly unknown[],
) {
  return db.query<R>({ name: `concierge_${name}`, text: SQL[name], values: values as unknown[] });
}
