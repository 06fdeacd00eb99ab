/**
 * SQLite schema, one migration per entry, applied in order and recorded in `schema_migrations`.
 * Never edit a migration that has shipped; add a new one.
 */
export const SQLITE_MIGRATIONS: readonly { name: string; sql: string }[] = [
  {
    name: 'initial',
    sql: `
CREATE TABLE workspaces (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE settings (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id), key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (workspace_id, key)) WITHOUT ROWID;
CREATE TABLE sources (
  id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL REFERENCES workspaces(id), name TEXT NOT NULL,
  write_key_hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE profiles (
  id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL,
  traits TEXT NOT NULL DEFAULT '{}', trait_versions TEXT NOT NULL DEFAULT '{}',
  consent TEXT NOT NULL DEFAULT '{}', consent_versions TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE identifiers (
  workspace_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, profile_id TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (workspace_id, kind, value)) WITHOUT ROWID;
CREATE INDEX identifiers_profile ON identifiers (profile_id);
CREATE TABLE profile_merges (
  from_id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, to_id TEXT NOT NULL, merged_at INTEGER NOT NULL);
CREATE INDEX profile_merges_to ON profile_merges (to_id);
CREATE TABLE groups (
  workspace_id TEXT NOT NULL, group_id TEXT NOT NULL, traits TEXT NOT NULL, trait_versions TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (workspace_id, group_id)) WITHOUT ROWID;
CREATE TABLE profile_groups (
  profile_id TEXT NOT NULL, group_id TEXT NOT NULL, workspace_id TEXT NOT NULL,
  PRIMARY KEY (profile_id, group_id)) WITHOUT ROWID;
-- The log: append-only, clustered by seq. Its two indexes are separate tables that the writer
-- fills in sorted batches (see event-index.ts); events after indexed_seq form the unindexed tail.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY, workspace_id TEXT NOT NULL, source_id TEXT NOT NULL, message_id TEXT NOT NULL,
  profile_id TEXT NOT NULL, type TEXT NOT NULL, name TEXT, ts INTEGER NOT NULL, received_at INTEGER NOT NULL,
  body TEXT NOT NULL);
-- Keys are 53-bit hashes (src/core/hash53.ts) of the profile id and of source + message id; reads verify
-- the full ids on the event row.
CREATE TABLE profile_events (
  profile_hash INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (profile_hash, ts, seq)) WITHOUT ROWID;
CREATE TABLE message_ids (
  message_hash INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (message_hash, seq)) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('indexed_seq', 0);
`,
  },
  {
    // The index tables move to a file of their own (see index-file.ts); the store copies them
    // there before this runs. log_id ties that file to this log.
    name: 'index in its own file',
    sql: `
DROP TABLE profile_events;
DROP TABLE message_ids;
DELETE FROM meta WHERE key = 'indexed_seq';
INSERT INTO meta (key, value) VALUES ('log_id', abs(random()) % 9007199254740991);
`,
  },
  {
    // Counting the log's rows reads all of it (seconds at 10M events), on the thread that
    // serves requests. Each workspace's counts are kept instead: events by the writer, once per
    // commit and erasure (a trigger per row would cost every event an UPDATE), profiles by
    // triggers (they are created far less often than events are stored).
    name: 'counts',
    sql: `
CREATE TABLE counts (
  workspace_id TEXT PRIMARY KEY, events INTEGER NOT NULL DEFAULT 0, profiles INTEGER NOT NULL DEFAULT 0)
  WITHOUT ROWID;
INSERT INTO counts (workspace_id, events) SELECT workspace_id, count(*) FROM events GROUP BY workspace_id;
INSERT INTO counts (workspace_id, profiles) SELECT workspace_id, count(*) FROM profiles WHERE true
  GROUP BY workspace_id ON CONFLICT (workspace_id) DO UPDATE SET profiles = excluded.profiles;
CREATE TRIGGER profile_counted AFTER INSERT ON profiles BEGIN
  INSERT INTO counts (workspace_id, profiles) VALUES (NEW.workspace_id, 1)
    ON CONFLICT (workspace_id) DO UPDATE SET profiles = profiles + 1;
END;
CREATE TRIGGER profile_uncounted AFTER DELETE ON profiles BEGIN
  UPDATE counts SET profiles = profiles - 1 WHERE workspace_id = OLD.workspace_id;
END;
`,
  },
];
