import Database, { type Statement } from 'better-sqlite3';

/**
 * The log's two indexes live in a database file of their own beside the log's: `FILE.index`.
 * SQLite lets one connection write a file at a time, so with the index in its own file a second
 * thread can do the index's B-tree work while the writer commits events. The index is derived
 * from the log (a missing or foreign index file is rebuilt from it at start), so its file runs
 * with `synchronous=NORMAL`: a power loss can undo its last passes, which the writer then redoes.
 */
export const indexPathOf = (path: string): string => (path === ':memory:' ? ':memory:' : `${path}.index`);

/**
 * Entries per chunk. A chunk of profile entries is 3 KiB and one of message entries 2 KiB, so
 * each fits a 4 KiB page with no overflow page to follow.
 */
export const CHUNK = 128;
/** Runs of one level merge into one run of the next when there are this many. */
const FANOUT = 8;
/** A merge reads its runs into memory: larger merges do not happen (the runs stay as they are). */
const MAX_MERGE = 4_000_000;
/** The level of runs never merged (an index converted from the B-tree layout of earlier versions). */
const TOP = 99;

const SCHEMA = `
-- The index is a set of runs, as in a log-structured merge tree: each index pass writes one run of
-- its entries in key order, packed into chunks; runs of a level merge into one run of the next.
-- A pass writes only its own pages (appended), never pages of earlier passes, so the work and the
-- disk writes of a pass do not grow with the index. Keys are 53-bit hashes (src/core/hash53.ts) of
-- the profile id and of source + message id; reads verify the full ids on the event row.
-- run: the greatest seq of the events it holds (unique: passes hold disjoint ranges of the log).
CREATE TABLE IF NOT EXISTS runs (
  run INTEGER PRIMARY KEY, level INTEGER NOT NULL, entries INTEGER NOT NULL);
-- data: CHUNK or fewer (profile hash, ts, seq) triples as little-endian doubles, sorted by hash
-- and seq; last_hash: the hash of the chunk's last entry. id: in the order written, never reused
-- (the message filter is read in that order while merges go on).
CREATE TABLE IF NOT EXISTS profile_chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER NOT NULL, last_hash INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS profile_chunks_by_hash ON profile_chunks (run, last_hash);
-- The same with (message hash, seq) pairs.
CREATE TABLE IF NOT EXISTS message_chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER NOT NULL, last_hash INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS message_chunks_by_hash ON message_chunks (run, last_hash);
-- indexed_seq: every event of the log up to it is in the runs. log_id: the log this index is of.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('indexed_seq', 0);
`;

/**
 * Opens the index file of a log. A writer creates it if needed, converts an index of the B-tree
 * layout of earlier versions into one run and, given the log's id and last seq, empties an index
 * that belongs to another log (a database file replaced beside an old index file) or claims more
 * than the log ever held (an index file copied at a later moment than the log), and takes the id
 * if it has none. A reader opens it as it is.
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
  // A merge of large runs is one large transaction, and the write-ahead log keeps the size it
  // reached: after a checkpoint, cut it back to 64 MiB.
  db.pragma('journal_size_limit = 67108864');
  db.pragma('busy_timeout = 5000');
  db.pragma(`cache_size = -${options.cacheKiB ?? 16384}`);
  db.transaction(() => {
    db.exec(SCHEMA);
    if (hasTable(db, 'main', 'profile_events')) {
      convertTables(db, 'main', 'main');
      db.exec('DROP TABLE profile_events; DROP TABLE message_ids');
    }
  })();
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
        db.exec(`${emptyRuns('main')} UPDATE meta SET value = 0 WHERE key = 'indexed_seq';`);
      }
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('log_id', ?)").run(logId);
    })();
  }
  return db;
}

const emptyRuns = (schema: string): string =>
  `DELETE FROM ${schema}.runs; DELETE FROM ${schema}.profile_chunks; DELETE FROM ${schema}.message_chunks;`;

const hasTable = (db: Database.Database, schema: string, name: string): boolean =>
  db.prepare(`SELECT 1 FROM ${schema}.sqlite_master WHERE type = 'table' AND name = ?`).get(name) !==
  undefined;

/**
 * Before the index had a file of its own (migration 2), its tables were in the log's file: copies
 * them into the index file (replacing whatever it held), so the upgrade does not rebuild it from
 * the log. Migration 2 then drops them; until it has, the next start copies them again.
 */
export function moveIndexOut(db: Database.Database, indexPath: string): void {
  if (!hasTable(db, 'main', 'profile_events') || indexPath === ':memory:') return;
  openIndexFile(indexPath, {}).close();
  db.prepare('ATTACH DATABASE ? AS moving').run(indexPath);
  try {
    db.transaction(() => {
      db.exec(emptyRuns('moving'));
      convertTables(db, 'main', 'moving');
      db.exec(`
        UPDATE moving.meta SET value = (SELECT value FROM main.meta WHERE key = 'indexed_seq')
          WHERE key = 'indexed_seq';
        DELETE FROM moving.meta WHERE key = 'log_id';`);
    })();
  } finally {
    db.exec('DETACH DATABASE moving');
  }
}

/**
 * Copies the B-tree index tables of earlier versions (`from`.profile_events, `from`.message_ids)
 * into one run of `to` that is never merged. They are read a page at a time in key order, which
 * is the run's order (a connection cannot write while it iterates).
 */
function convertTables(db: Database.Database, from: string, to: string): void {
  const run = (db.prepare(`SELECT max(seq) FROM ${from}.profile_events`).pluck().get() as number | null) ?? 0;
  const copy = (table: string, chunks: string, keys: readonly string[]) => {
    const width = keys.length;
    const cols = keys.join(', ');
    const after = db
      .prepare(
        `SELECT ${cols} FROM ${from}.${table} WHERE (${cols}) > (${keys.map(() => '?').join(', ')}) ORDER BY ${cols} LIMIT ?`,
      )
      .raw();
    const insert = db.prepare(`INSERT INTO ${to}.${chunks} (run, last_hash, data) VALUES (?, ?, ?)`);
    const PAGE = CHUNK * 64;
    let count = 0;
    // Hashes are never negative, so a first key of -1 starts before every row.
    let last: number[] = keys.map(() => -1);
    for (;;) {
      const page = after.all(...last, PAGE) as number[][];
      for (let at = 0; at < page.length; at += CHUNK) {
        const rows = page.slice(at, at + CHUNK);
        const chunk = new Float64Array(rows.length * width);
        for (const [i, r] of rows.entries()) chunk.set(r, i * width);
        insert.run(run, rows[rows.length - 1]![0]!, blobOf(chunk));
      }
      count += page.length;
      if (page.length < PAGE) break;
      last = page[page.length - 1]!;
    }
    return count;
  };
  const entries = copy('profile_events', 'profile_chunks', ['profile_hash', 'ts', 'seq']);
  copy('message_ids', 'message_chunks', ['message_hash', 'seq']);
  if (entries > 0) {
    db.prepare(`INSERT OR REPLACE INTO ${to}.runs (run, level, entries) VALUES (?, ?, ?)`).run(
      run,
      TOP,
      entries,
    );
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

/** Doubles as a blob (a view, not a copy). */
const blobOf = (a: Float64Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A chunk's doubles (a view when the blob is aligned, else a copy). */
export function chunkOf(blob: Buffer): Float64Array {
  if (blob.byteOffset % 8 === 0) return new Float64Array(blob.buffer, blob.byteOffset, blob.length / 8);
  const copy = new Float64Array(blob.length / 8);
  new Uint8Array(copy.buffer).set(blob);
  return copy;
}

export type IndexWrites = ReturnType<typeof indexWrites>;

/** The statements that write runs, on a connection to the index file. */
export function indexWrites(db: Database.Database) {
  const addProfileChunk = db.prepare('INSERT INTO profile_chunks (run, last_hash, data) VALUES (?, ?, ?)');
  const addMessageChunk = db.prepare('INSERT INTO message_chunks (run, last_hash, data) VALUES (?, ?, ?)');
  const dropProfileChunks = db.prepare('DELETE FROM profile_chunks WHERE run = ?');
  const dropMessageChunks = db.prepare('DELETE FROM message_chunks WHERE run = ?');
  const dropRunRow = db.prepare('DELETE FROM runs WHERE run = ?');
  const profileChunksOf = db.prepare<[number]>('SELECT data FROM profile_chunks WHERE run = ?').pluck();
  const messageChunksOf = db.prepare<[number]>('SELECT data FROM message_chunks WHERE run = ?').pluck();
  const runsAt = db.prepare<[number]>('SELECT run, entries FROM runs WHERE level = ? ORDER BY run');
  const setRun = db.prepare('INSERT OR REPLACE INTO runs (run, level, entries) VALUES (?, ?, ?)');
  const writeChunks = (
    insert: Statement,
    run: number,
    width: number,
    columns: readonly Float64Array[],
    order: ArrayLike<number>,
    from: number,
    to: number,
  ) => {
    const chunk = new Float64Array(CHUNK * width);
    for (let at = from; at < to; at += CHUNK) {
      const n = Math.min(CHUNK, to - at);
      for (let i = 0; i < n; i++) {
        const e = order[at + i]!;
        for (let k = 0; k < width; k++) chunk[i * width + k] = columns[k]![e]!;
      }
      insert.run(run, chunk[(n - 1) * width]!, blobOf(chunk.subarray(0, n * width)));
    }
  };
  const dropRun = (run: number) => {
    dropProfileChunks.run(run);
    dropMessageChunks.run(run);
    dropRunRow.run(run);
  };
  return {
    /** Writes entries `from` to `to` (positions in `order`) of a run as chunks. */
    profileChunks: (
      run: number,
      c: readonly Float64Array[],
      order: ArrayLike<number>,
      from: number,
      to: number,
    ) => writeChunks(addProfileChunk, run, 3, c, order, from, to),
    messageChunks: (
      run: number,
      c: readonly Float64Array[],
      order: ArrayLike<number>,
      from: number,
      to: number,
    ) => writeChunks(addMessageChunk, run, 2, c, order, from, to),
    /** Removes a run and its chunks (a pass started over, or runs merged into one). */
    dropRun,
    setRun: (run: number, level: number, entries: number) => setRun.run(run, level, entries),
    /** Only forward: a pass redone after a crash or a restart never moves it back. */
    setIndexedSeq: db.prepare<[number]>("UPDATE meta SET value = max(value, ?) WHERE key = 'indexed_seq'"),
    /**
     * Merges the runs of each level into one of the next while a level holds `FANOUT` of them
     * (and the merge is not too large to hold in memory). A run of level L holds about
     * FANOUT^L passes, so an entry is rewritten once per level, a few times in all, however
     * large the index grows. Call it inside the transaction that added a run.
     */
    compact: () => {
      for (let level = 0; level < TOP - 1; level++) {
        const runs = runsAt.all(level) as { run: number; entries: number }[];
        if (runs.length < FANOUT) return;
        const total = runs.reduce((n, r) => n + r.entries, 0);
        if (total > MAX_MERGE) return;
        const ids = runs.map((r) => r.run);
        const profiles = merged(
          ids.map((r) => profileChunksOf.all(r) as Buffer[]),
          3,
        );
        const messages = merged(
          ids.map((r) => messageChunksOf.all(r) as Buffer[]),
          2,
        );
        for (const r of ids) dropRun(r);
        const run = Math.max(...ids);
        writeChunks(addProfileChunk, run, 3, profiles.columns, profiles.order, 0, profiles.order.length);
        writeChunks(addMessageChunk, run, 2, messages.columns, messages.order, 0, messages.order.length);
        setRun.run(run, level + 1, profiles.order.length);
      }
    },
  };
}

/**
 * The entries of several runs' chunks as columns, with their order by hash, then seq; an entry
 * found twice (a pass redone after a crash wrote a second run of some events) is kept once.
 */
function merged(runs: readonly Buffer[][], width: number): { columns: Float64Array[]; order: Uint32Array } {
  let n = 0;
  for (const chunks of runs) for (const b of chunks) n += b.length / 8 / width;
  const columns = Array.from({ length: width }, () => new Float64Array(n));
  let at = 0;
  for (const chunks of runs) {
    for (const b of chunks) {
      const c = chunkOf(b);
      for (let i = 0; i < c.length; i += width) {
        for (let k = 0; k < width; k++) columns[k]![at] = c[i + k]!;
        at++;
      }
    }
  }
  const hash = columns[0]!;
  const seq = columns[width - 1]!;
  const order = sortedOrder(hash, seq);
  let kept = 0;
  for (let i = 0; i < order.length; i++) {
    const e = order[i]!;
    const p = kept > 0 ? order[kept - 1]! : -1;
    if (p >= 0 && hash[p] === hash[e] && seq[p] === seq[e]) continue;
    order[kept++] = e;
  }
  return { columns, order: order.subarray(0, kept) };
}

/**
 * Writes a pass as a run: its entries in profile-hash order into `profile_chunks` and in
 * message-hash order into `message_chunks`, a share at a time: `step` returns true once every
 * entry is in. The run's id is the pass's last seq; a pass started over drops what an earlier
 * attempt wrote. The caller holds a transaction on the index file.
 */
export class PassWriter {
  private readonly byProfile: Uint32Array;
  private readonly byMessage: Uint32Array;
  private profiles = 0;
  private messages = 0;
  private started = false;

  constructor(
    private readonly writes: IndexWrites,
    private readonly columns: PassColumns,
    private readonly run: number,
  ) {
    this.byProfile = sortedOrder(columns.profile, columns.seq);
    this.byMessage = sortedOrder(columns.message, columns.seq);
  }

  step(budget: number): boolean {
    const { profile, ts, seq, message } = this.columns;
    const n = profile.length;
    if (!this.started) {
      this.writes.dropRun(this.run);
      this.writes.setRun(this.run, 0, n);
      this.started = true;
    }
    // Whole chunks per step, so a run's chunks are full but for its last.
    const share = Math.max(CHUNK, Math.ceil(budget / CHUNK) * CHUNK);
    let end = Math.min(n, this.profiles + share);
    this.writes.profileChunks(this.run, [profile, ts, seq], this.byProfile, this.profiles, end);
    this.profiles = end;
    end = Math.min(n, this.messages + share);
    this.writes.messageChunks(this.run, [message, seq], this.byMessage, this.messages, end);
    this.messages = end;
    return this.profiles === n && this.messages === n;
  }
}

/**
 * The positions of entries in the order of `hash`, then `tie`: a radix sort on the hash's top 32
 * bits (see `orderBy`), then each group of equal top bits (rarely more than one profile's
 * entries) sorted exactly.
 */
export function sortedOrder(hash: Float64Array, tie: Float64Array): Uint32Array {
  const order = orderBy(hash, (h) => h);
  const n = order.length;
  let i = 0;
  while (i < n) {
    const top = Math.floor(hash[order[i]!]! / 2 ** 21);
    let j = i + 1;
    while (j < n && Math.floor(hash[order[j]!]! / 2 ** 21) === top) j++;
    if (j - i > 1) {
      const group = Array.from(order.subarray(i, j)).sort((a, b) => hash[a]! - hash[b]! || tie[a]! - tie[b]!);
      order.set(group, i);
    }
    i = j;
  }
  return order;
}

/**
 * The positions of `entries` in the order of their 53-bit hash's top 32 bits, ties in the order
 * given. A radix sort in two passes of 16 bits, which takes about half what sorting the keys as
 * numbers did.
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
