/**
 * Postgres schema: the SQLite schema translated, one migration per entry, applied in order under an
 * advisory lock and recorded in `schema_migrations`. Never edit a migration that has shipped; add a
 * new one.
 *
 * Times are BIGINT milliseconds since the epoch. JSON columns use `json`, not `jsonb`: the adapter
 * reads and writes them whole, `json` keeps the text exactly as written (key order included) and,
 * unlike `jsonb`, accepts every string JSON.stringify produces (`\u0000`, lone surrogates), so one odd
 * event cannot fail the group commit it shares with other requests.
 *
 * Ids, identifier values and other keys are `COLLATE "C"`: they are compared byte by byte, as SQLite
 * does, instead of by the database's language rules, which makes every index probe on them cheaper
 * (an append makes thousands) and orders them as SQLite does. All of them, so that keys compared
 * across tables share one collation and joins can use the indexes.
 *
 * Each append looks up the owner of every identifier its events carry, and the user ids of every
 * owner, so both come from the index alone: the primary key of `identifiers` includes `profile_id`,
 * and `identifiers_profile` holds `(profile_id, kind, created_at, value)`, a profile's user ids in
 * order.
 */
export const POSTGRES_MIGRATIONS: readonly { name: string; sql: string }[] = [
  {
    name: 'initial',
    sql: `
CREATE TABLE workspaces (id TEXT COLLATE "C" PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE settings (
  workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id), key TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (workspace_id, key));
CREATE TABLE sources (
  id TEXT COLLATE "C" PRIMARY KEY, workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL, write_key_hash TEXT COLLATE "C" NOT NULL UNIQUE, created_at BIGINT NOT NULL);
CREATE INDEX sources_workspace ON sources (workspace_id);
CREATE TABLE profiles (
  id TEXT COLLATE "C" PRIMARY KEY, workspace_id TEXT COLLATE "C" NOT NULL,
  traits JSON NOT NULL DEFAULT '{}', trait_versions JSON NOT NULL DEFAULT '{}',
  consent JSON NOT NULL DEFAULT '{}', consent_versions JSON NOT NULL DEFAULT '{}',
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX profiles_workspace ON profiles (workspace_id);
CREATE TABLE identifiers (
  workspace_id TEXT COLLATE "C" NOT NULL, kind TEXT COLLATE "C" NOT NULL, value TEXT COLLATE "C" NOT NULL,
  profile_id TEXT COLLATE "C" NOT NULL, created_at BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, kind, value) INCLUDE (profile_id));
CREATE INDEX identifiers_profile ON identifiers (profile_id, kind, created_at, value);
CREATE TABLE profile_merges (
  from_id TEXT COLLATE "C" PRIMARY KEY, workspace_id TEXT COLLATE "C" NOT NULL, to_id TEXT COLLATE "C" NOT NULL,
  merged_at BIGINT NOT NULL);
CREATE INDEX profile_merges_to ON profile_merges (to_id);
CREATE TABLE groups (
  workspace_id TEXT COLLATE "C" NOT NULL, group_id TEXT COLLATE "C" NOT NULL, traits JSON NOT NULL,
  trait_versions JSON NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, group_id));
CREATE TABLE profile_groups (
  profile_id TEXT COLLATE "C" NOT NULL, group_id TEXT COLLATE "C" NOT NULL, workspace_id TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (profile_id, group_id));
CREATE TABLE events (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, workspace_id TEXT COLLATE "C" NOT NULL,
  source_id TEXT COLLATE "C" NOT NULL, message_id TEXT COLLATE "C" NOT NULL, profile_id TEXT COLLATE "C" NOT NULL,
  type TEXT NOT NULL, name TEXT, ts BIGINT NOT NULL, received_at BIGINT NOT NULL, body JSON NOT NULL);
CREATE UNIQUE INDEX events_message ON events (source_id, message_id);
CREATE INDEX events_profile_ts ON events (profile_id, ts, seq);
`,
  },
];
