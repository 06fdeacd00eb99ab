import Database, { type Statement } from 'better-sqlite3';
import { multiRowInsert } from './multi-row.ts';

/**
 * The log's two indexes live in a database file of their own beside the log's: `FILE.index`.
 * SQLite lets one connection write a file at a time, so with the index in its own file a second
 * thread can do the index's B-tree work while the writer commits events. The index is derived
 * from the log (a missing or foreign index file is rebuilt from it at start), so its file runs
 * with `synchronous=NORMAL`: a power loss can undo its last passes, which the writer then redoes.
 */
export const indexPathOf = (path: string): string => (path === ':memory:' ? ':memory:' : `${path}.index`);

const SCHEMA = `
-- Keys are 53-bit hashes (src/core/hash53.ts) of the profile id and of source + message id; reads
-- verify the full ids on the event row.
CREATE TABLE IF NOT EXISTS profile_events (
  profile_hash INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (profile_hash, ts, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS message_ids (
  message_hash INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (message_hash, seq)) WITHOUT ROWID;
-- indexed_seq: every event of the log up to it is in both tables. log_id: the log this index is of.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('indexed_seq', 0);
`;

/**
 * Opens the index file of a log. A writer creates it if needed and, given the log's id and last
 * seq, empties an index that belongs to another log (a database file replaced beside an old index
 * file) or claims more than the log ever held (an index file copied at a later moment than the
 * log), and takes the id if it has none. A reader opens it as it is.
 */
export function openIndexFile(
  path: string,
  options: { readonly?: boolean; logId?: number; lastSeq?: number; cacheKiB?: number },
): Database.Database {
  if (options.readonly) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    db.pragma(`cache_size = -${options.cacheKiB ?? 16384}`);
    return db;
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma(`cache_size = -${options.cacheKiB ?? 16384}`);
  db.exec(SCHEMA);
  if (options.logId !== undefined) {
    const logId = options.logId;
    db.transaction(() => {
      const own = db.prepare("SELECT value FROM meta WHERE key = 'log_id'").pluck().get() as
        | number
        | undefined;
      const indexed = db.prepare("SELECT value FROM meta WHERE key = 'indexed_seq'").pluck().get() as number;
      const ahead = options.lastSeq !== undefined && indexed > options.lastSeq;
      if (own === logId && !ahead) return;
      if (own !== undefined) {
        db.exec(
          "DELETE FROM profile_events; DELETE FROM message_ids; UPDATE meta SET value = 0 WHERE key = 'indexed_seq'",
        );
      }
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('log_id', ?)").run(logId);
    })();
  }
  return db;
}

/**
 * Before the index had a file of its own (migration 2), its tables were in the log's file: copies
 * them into the index file (replacing whatever it held), so the upgrade does not rebuild it from
 * the log. Migration 2 then drops them; until it has, the next start copies them again.
 */
export function moveIndexOut(db: Database.Database, indexPath: string): void {
  const old = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'profile_events'")
    .get();
  if (old === undefined || indexPath === ':memory:') return;
  openIndexFile(indexPath, {}).close();
  db.prepare('ATTACH DATABASE ? AS moving').run(indexPath);
  try {
    db.transaction(() => {
      db.exec(`
        DELETE FROM moving.profile_events;
        DELETE FROM moving.message_ids;
        INSERT OR IGNORE INTO moving.profile_events SELECT profile_hash, ts, seq FROM main.profile_events;
        INSERT OR IGNORE INTO moving.message_ids SELECT message_hash, seq FROM main.message_ids;
        UPDATE moving.meta SET value = (SELECT value FROM main.meta WHERE key = 'indexed_seq')
          WHERE key = 'indexed_seq';
        DELETE FROM moving.meta WHERE key = 'log_id';`);
    })();
  } finally {
    db.exec('DETACH DATABASE moving');
  }
}

/** A pass's entries as columns of one buffer (so it crosses to another thread as one copy). */
export type PassColumns = {
  readonly profile: Float64Array;
  readonly ts: Float64Array;
  readonly seq: Float64Array;
  readonly message: Float64Array;
};

export const passColumns = (buffer: Float64Array): PassColumns => {
  const n = buffer.length / 4;
  return {
    profile: buffer.subarray(0, n),
    ts: buffer.subarray(n, 2 * n),
    seq: buffer.subarray(2 * n, 3 * n),
    message: buffer.subarray(3 * n, 4 * n),
  };
};

export type IndexWrites = ReturnType<typeof indexWrites>;

/** The statements that fill the index tables, on a connection to the index file. */
export function indexWrites(db: Database.Database) {
  return {
    profiles: multiRowInsert(db, 'INSERT OR IGNORE INTO profile_events (profile_hash, ts, seq)', 3),
    messages: multiRowInsert(db, 'INSERT OR IGNORE INTO message_ids (message_hash, seq)', 2),
    /** Only forward: a pass redone after a crash or a restart never moves it back. */
    setIndexedSeq: db.prepare<[number]>("UPDATE meta SET value = max(value, ?) WHERE key = 'indexed_seq'"),
  };
}

/**
 * Inserts a pass's entries into both index tables, each table in its key's order (so each index
 * page is written once per pass), a share at a time: `step` returns true once every entry is in.
 * The caller holds a transaction on the index file.
 */
export class PassWriter {
  private readonly byProfile: Uint32Array;
  private readonly byMessage: Uint32Array;
  private profiles = 0;
  private messages = 0;

  constructor(
    private readonly writes: IndexWrites,
    private readonly columns: PassColumns,
  ) {
    this.byProfile = orderBy(columns.profile, (h) => h);
    this.byMessage = orderBy(columns.message, (h) => h);
  }

  step(budget: number): boolean {
    const { profile, ts, seq, message } = this.columns;
    const n = profile.length;
    const rows = new Rows(this.writes.profiles, 3);
    let end = Math.min(n, this.profiles + budget);
    for (let i = this.profiles; i < end; i++) {
      const e = this.byProfile[i]!;
      rows.add(profile[e]!, ts[e]!, seq[e]!);
    }
    rows.flush();
    this.profiles = end;
    const pairs = new Rows(this.writes.messages, 2);
    end = Math.min(n, this.messages + budget);
    for (let i = this.messages; i < end; i++) {
      const e = this.byMessage[i]!;
      pairs.add(message[e]!, seq[e]!);
    }
    pairs.flush();
    this.messages = end;
    return this.profiles === n && this.messages === n;
  }
}

/**
 * The positions of `entries` in the order of their 53-bit hash's top 32 bits, ties in the order
 * given: close enough to sorted for each index page to be written once per pass (the B-tree places
 * every row exactly). A radix sort in two passes of 16 bits, which takes about half what sorting
 * the keys as numbers did.
 */
export function orderBy<T>(entries: ArrayLike<T>, hash: (e: T) => number): Uint32Array {
  const n = entries.length;
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = Math.floor(hash(entries[i]!) / 2 ** 21);
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let next = new Uint32Array(n);
  const starts = new Uint32Array(1 << 16);
  for (let shift = 0; shift < 32; shift += 16) {
    starts.fill(0);
    for (let i = 0; i < n; i++) starts[(keys[i]! >>> shift) & 0xffff]!++;
    let at = 0;
    for (let b = 0; b < starts.length; b++) {
      const count = starts[b]!;
      starts[b] = at;
      at += count;
    }
    for (let i = 0; i < n; i++) {
      const o = order[i]!;
      next[starts[(keys[o]! >>> shift) & 0xffff]!++] = o;
    }
    [order, next] = [next, order];
  }
  return order;
}

/** Index rows inserted `ROWS_PER_INSERT` to a statement (binding numbers, never formatting them). */
const ROWS_PER_INSERT = 100;
class Rows {
  private values: number[] = [];
  constructor(
    private readonly insert: (rows: number) => Statement<unknown[]>,
    private readonly width: number,
  ) {}

  /** One row: two values, or three when the table is three wide. */
  add(a: number, b: number, c = 0): void {
    this.values.push(a, b);
    if (this.width === 3) this.values.push(c);
    if (this.values.length === this.width * ROWS_PER_INSERT) this.flush();
  }

  /** Inserts the rows added since the last flush, in one statement. */
  flush(): void {
    if (this.values.length === 0) return;
    // Spread, not an array: the driver reads an array element by element through the engine's
    // slow property API, and spreading costs a quarter less per row (see multi-row.ts).
    this.insert(this.values.length / this.width).run(...this.values);
    this.values = [];
  }
}
