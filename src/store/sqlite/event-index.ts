import type { Database, Statement } from 'better-sqlite3';
import { hash53, hash53Joined } from '../../core/hash53.ts';
import type { TimelineCursor } from '../port.ts';
import type { EventRow } from '../rows.ts';
import { HashSlots } from './hash-slots.ts';
import { CHUNK, chunkOf, indexWrites, PassWriter, passColumns } from './index-file.ts';
import { MessageFilter } from './message-filter.ts';

type Seq = { seq: number; ts: number };
type MessageKey = { source_id: string; message_id: string };
type EventKeys = MessageKey & { profile_id: string; ts: number };
type TailRow = EventKeys & { seq: number };
type TailEntry = {
  source: string;
  messageId: string;
  profile: number;
  ts: number;
  seq: number;
  message: number;
};
/**
 * A pass: entries that left the tail for the index tables, kept until they are in, so that
 * de-duplication still finds them. `buffer` holds them as columns (see `passColumns`).
 */
type Pass = {
  entries: TailEntry[];
  buffer: Float64Array;
  lastSeq: number;
  /** Inserting it here, a step at a time; null until the first step (or once sent to a thread). */
  writer: PassWriter | null;
};
/** Index entries of erased events, for `forget`. */
export type ErasedKeys = { message: number; profile: number; ts: number; seq: number }[];

/** Indexed message hashes read into the filter per step. */
const FILTER_STEP = 50_000;
/** Unindexed events indexed per transaction when the store opens far behind (a rebuilt index). */
const CATCH_UP_CHUNK = 200_000;

/**
 * The SQLite event log and its two indexes — by profile and time, and by (source, message id).
 *
 * Appends go to `events` alone, which is clustered by seq, so they cost one sequential write.
 * Maintaining the indexes row by row would cost a random B-tree page per event and index, which
 * is what limits a durable SQLite log; instead the tail (events after `indexed_seq`) goes into
 * the index in one sorted pass, written as a run of packed chunks that later merges with others
 * (see index-file.ts), so a pass appends its own pages and rewrites none of the earlier ones.
 * Index keys are 53-bit hashes, so entries stay small. The index is in a
 * file of its own (see index-file.ts), written after the log's commit by the writer itself, a
 * step per commit, or whole by a thread of its own; either way an entry goes in only once its
 * event is committed, so the index never claims an event the log lacks. The writer keeps the
 * unindexed entries in memory, so a pass reads nothing back from the log. Readers combine the
 * indexes with a scan of the short tail and verify full ids on the event row, and de-duplication
 * checks the tail in memory and, for indexed messages, a Bloom filter before the index — so every
 * answer is exact at every moment, and a new message id (the usual case) costs no lookup.
 */
export class EventIndex {
  /** The tail's index entries, in append order: what the next pass adds to the index tables. */
  private tail: TailEntry[] = [];
  /**
   * The tail's message hashes, with each entry's position in `tail`; only the writer keeps it.
   * When a pass starts it goes with the tail's entries, and it is dropped when the pass is done.
   */
  private tailSlots = new HashSlots();
  /** The same for the entries of the pass in progress. */
  private passSlots: HashSlots | null = null;
  /** The pass in progress: older entries than the tail's, on their way into the index tables. */
  private pass: Pass | null = null;
  /** The message `seen` last checked, with its hash (fields, not an object per event). */
  private checkedSource = '';
  private checkedMessage = '';
  private checkedHash = 0;
  /** Message hashes of the indexed events; complete once `filterCursor` is null. */
  private filter: MessageFilter | null = null;
  private filterCursor: number | null = null;
  private readonly log: ReturnType<typeof prepareLog>;
  private readonly idx: ReturnType<typeof prepareIndex>;
  private readonly writes: ReturnType<typeof indexWrites> | null;

  constructor(
    logDb: Database,
    /** A connection to the index file (see index-file.ts). */
    private readonly indexDb: Database,
    private readonly writer: boolean,
    /** Indexed message hashes read into the filter per step. */
    private readonly filterStep = FILTER_STEP,
    /** Unindexed events indexed per transaction at start, while more than this many are unindexed. */
    private readonly catchUpChunk = CATCH_UP_CHUNK,
  ) {
    this.log = prepareLog(logDb);
    this.idx = prepareIndex(indexDb);
    this.writes = writer ? indexWrites(indexDb) : null;
    if (writer) {
      this.catchUp();
      this.reloadTail();
      this.filter = new MessageFilter(Math.ceil(((this.log.maxSeq.get() as number | null) ?? 0) * 1.25));
      this.filterCursor = 0;
      this.loadFilter();
    }
  }

  /** Events not yet in the index tables: the pass in progress and the tail after it. */
  get pending(): number {
    return this.tail.length + (this.pass?.entries.length ?? 0);
  }

  /** Events appended since the pass in progress began (all unindexed ones when there is none). */
  get accumulated(): number {
    return this.tail.length;
  }

  /** Entries of the pass in progress, or 0. */
  get passing(): number {
    return this.pass?.entries.length ?? 0;
  }

  /** True while the message filter still has indexed hashes to read (see `loadFilter`). */
  get filterLoading(): boolean {
    return this.filterCursor !== null;
  }

  /**
   * Reads up to `limit` more hashes of the indexed messages into the filter. Until it has read
   * them all, de-duplication asks the index for every message; a store with a long history reads
   * them a step at a time between commits.
   */
  loadFilter(limit = this.filterStep): void {
    if (this.filter === null || this.filterCursor === null) return;
    // Chunks in the order they were written (their ids only grow, never reused): a merge
    // meanwhile writes its chunks after the cursor, so no hash is missed (some are read twice,
    // which the filter does not mind).
    const chunks = Math.max(1, Math.ceil(limit / CHUNK));
    const rows = this.idx.messageChunksAfter.all(this.filterCursor, chunks) as [number, Buffer][];
    for (const [, data] of rows) {
      const c = chunkOf(data);
      for (let i = 0; i < c.length; i += 2) this.filter.add(c[i]!);
    }
    this.filterCursor = rows.length < chunks ? null : rows[rows.length - 1]![0];
  }

  /**
   * Indexes the unindexed events a chunk at a time, each in a transaction of the index file,
   * while they are more than one chunk: at the first start after an upgrade, or when the index
   * file was lost, so the tail kept in memory stays short.
   */
  private catchUp(): void {
    for (;;) {
      const rows = this.log.tailChunk.all(this.indexedSeq(), this.catchUpChunk) as TailRow[];
      if (rows.length < this.catchUpChunk) return;
      const entries = rows.map((r) => entryOf(r.source_id, r.message_id, r.profile_id, r.ts, r.seq));
      const last = rows[rows.length - 1]!.seq;
      const writer = new PassWriter(this.writes!, passColumns(columnsOf(entries)), last);
      this.indexDb.transaction(() => {
        writer.step(Number.POSITIVE_INFINITY);
        this.writes!.setIndexedSeq.run(last);
        this.writes!.compact();
      })();
    }
  }

  /**
   * Rebuilds the in-memory tail from the log (at start, and after a rollback or an erasure). A
   * pass in progress holds committed events only, so it stays; the tail is what follows it.
   */
  reloadTail(): void {
    this.tail = [];
    this.tailSlots = new HashSlots();
    const after = this.pass?.lastSeq ?? this.indexedSeq();
    for (const r of this.log.tailKeys.iterate(after) as Iterable<TailRow>) {
      this.appended(r.source_id, r.message_id, r.profile_id, r.ts, r.seq);
    }
  }

  indexedSeq(): number {
    return this.idx.indexedSeq.get() as number;
  }

  /** True when this source already stored this message id. */
  seen(sourceId: string, messageId: string): boolean {
    const h = messageHash(sourceId, messageId);
    // `appended` follows for a new message: it takes the hash made here.
    this.checkedSource = sourceId;
    this.checkedMessage = messageId;
    this.checkedHash = h;
    if (holds(this.tailSlots, this.tail, h, sourceId, messageId)) return true;
    if (this.pass !== null && holds(this.passSlots!, this.pass.entries, h, sourceId, messageId)) return true;
    // A new message id is the usual case: the filter answers it without touching the index.
    if (this.filter !== null && this.filterCursor === null && !this.filter.mayHave(h)) return false;
    for (const seq of this.indexedMessageSeqs(h)) {
      const r = this.log.keyOfSeq.get(seq) as MessageKey | undefined;
      if (r && r.source_id === sourceId && r.message_id === messageId) return true;
    }
    return false;
  }

  /** Records an appended event in the tail. */
  appended(sourceId: string, messageId: string, profileId: string, ts: number, seq: number): void {
    const same = sourceId === this.checkedSource && messageId === this.checkedMessage;
    const message = same ? this.checkedHash : messageHash(sourceId, messageId);
    this.tailSlots.add(message, this.tail.length);
    this.tail.push(entryOf(sourceId, messageId, profileId, ts, seq, message));
  }

  /**
   * Makes the tail the next pass, when there is none and the tail is not empty; returns it (its
   * columns and last seq) or null. Call it after the log's commit, so a pass holds committed
   * events only. New appends form the next tail meanwhile.
   */
  startPass(): { buffer: Float64Array; lastSeq: number } | null {
    if (this.pass !== null || this.tail.length === 0) return null;
    const entries = this.tail;
    this.tail = [];
    this.passSlots = this.tailSlots;
    this.tailSlots = new HashSlots(entries.length);
    let lastSeq = 0;
    for (const e of entries) if (e.seq > lastSeq) lastSeq = e.seq;
    this.pass = { entries, buffer: columnsOf(entries), lastSeq, writer: null };
    return this.pass;
  }

  /**
   * Inserts up to `budget` more entries of the pass into each index table, inside the caller's
   * transaction on the index file. When the pass is done, `indexed_seq` moves past it, in the
   * same transaction; the caller then calls `passDone` once that transaction has committed.
   * Returns true when the pass is all in.
   */
  step(budget: number): boolean {
    const pass = this.pass;
    if (pass === null) return false;
    pass.writer ??= new PassWriter(this.writes!, passColumns(pass.buffer), pass.lastSeq);
    if (!pass.writer.step(budget)) return false;
    this.writes!.setIndexedSeq.run(pass.lastSeq);
    this.writes!.compact();
    return true;
  }

  /** The pass is in the index tables and committed there: its entries leave memory. */
  passDone(): void {
    const pass = this.pass;
    if (pass === null) return;
    if (this.filter !== null) for (const e of pass.entries) this.filter.add(e.message);
    this.pass = null;
    this.passSlots = null;
  }

  /** A step of the pass failed and its transaction rolled back: the next step starts it over. */
  restartPass(): void {
    if (this.pass !== null) this.pass.writer = null;
  }

  /** Indexes everything not yet indexed now, in one transaction on the index file. */
  indexTail(): number {
    const n = this.pending;
    if (n === 0) return 0;
    this.indexDb.transaction(() => {
      this.step(Number.POSITIVE_INFINITY);
    })();
    this.passDone();
    this.startPass();
    this.indexDb.transaction(() => {
      this.step(Number.POSITIVE_INFINITY);
    })();
    this.passDone();
    return n;
  }

  /** Seqs of the indexed events whose message hash is `h`: almost always none. */
  private indexedMessageSeqs(h: number): number[] {
    const seqs: number[] = [];
    this.probe(this.idx.messages, h, (c) => {
      for (let i = 0; i < c.length; i += 2) if (c[i] === h) seqs.push(c[i + 1]!);
    });
    return seqs;
  }

  /**
   * Visits every chunk of every run that can hold entries of hash `h`: one statement finds each
   * run's first such chunk, and only a run whose entries of `h` reach that chunk's end (a profile
   * with many events) is read further.
   */
  private probe(kind: ChunkStatements, h: number, visit: (chunk: Float64Array) => void): void {
    for (const [run, last, data] of kind.first.all(h) as [number, number, Buffer][]) {
      if (last !== h) {
        visit(chunkOf(data));
        continue;
      }
      for (const [l, d] of kind.from.iterate(run, h) as Iterable<[number, Buffer]>) {
        visit(chunkOf(d));
        if (l > h) break;
      }
    }
  }

  /**
   * Removes the entry (`hash`, …, `seq`) from the chunk of `run` that holds it, rewriting the
   * chunk (or dropping it once empty). Returns true when there was one.
   */
  private removeEntry(kind: ChunkStatements, run: number, hash: number, seq: number): boolean {
    const { width } = kind;
    // Read first: a connection cannot write while a statement of it is being iterated.
    const chunks: [number, Buffer][] = [];
    for (const [rowid, last, data] of kind.at.iterate(run, hash) as Iterable<[number, number, Buffer]>) {
      chunks.push([rowid, data]);
      if (last > hash) break;
    }
    for (const [rowid, data] of chunks) {
      const c = chunkOf(data);
      for (let i = 0; i < c.length; i += width) {
        if (c[i] !== hash || c[i + width - 1] !== seq) continue;
        const rest = new Float64Array(c.length - width);
        rest.set(c.subarray(0, i));
        rest.set(c.subarray(i + width), i);
        if (rest.length === 0) kind.drop.run(rowid);
        else kind.set.run(rest[rest.length - width]!, Buffer.from(rest.buffer), rowid);
        return true;
      }
    }
    return false;
  }

  /**
   * The events of these profile ids (a profile and those merged into it), newest first, before
   * `before`, at most `limit` (all when null). The index is read first, in a read transaction of
   * its file, and the log after it: the index claims only events committed before it, so the
   * log's view holds every event the index names, and its tail holds the rest.
   */
  timeline(profileIds: readonly string[], before: TimelineCursor | null, limit: number | null): EventRow[] {
    const bound = before ?? { ts: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER };
    const found = new Map<number, number>();
    const indexed = this.indexDb.transaction(() => {
      for (const id of profileIds) {
        const h = profileHash(id);
        this.probe(this.idx.profiles, h, (c) => {
          for (let i = 0; i < c.length; i += 3) {
            if (c[i] !== h) continue;
            const ts = c[i + 1]!;
            const seq = c[i + 2]!;
            if (ts < bound.ts || (ts === bound.ts && seq < bound.seq)) found.set(seq, ts);
          }
        });
      }
      return this.indexedSeq();
    })();
    for (const r of this.log.tailOf.iterate(indexed, JSON.stringify(profileIds)) as Iterable<Seq>) {
      if (r.ts < bound.ts || (r.ts === bound.ts && r.seq < bound.seq)) found.set(r.seq, r.ts);
    }
    const order = [...found].sort((a, b) => b[1] - a[1] || b[0] - a[0]);
    const wanted = new Set(profileIds);
    const rows: EventRow[] = [];
    for (const [seq] of order) {
      const row = this.log.eventBySeq.get(seq) as EventRow | undefined;
      // A hash collision would bring another profile's event; the full id decides.
      if (row && wanted.has(row.profile_id)) rows.push(row);
      if (limit !== null && rows.length >= limit) break;
    }
    return rows;
  }

  /**
   * Deletes events from the log by seq; the caller holds a write transaction on the log. Returns
   * their index keys, for `forget` once that transaction has committed.
   */
  deleteEvents(seqs: readonly number[]): ErasedKeys {
    const keys: ErasedKeys = [];
    for (const seq of seqs) {
      const r = this.log.eventKeys.get(seq) as EventKeys | undefined;
      if (!r) continue;
      keys.push({
        message: messageHash(r.source_id, r.message_id),
        profile: profileHash(r.profile_id),
        ts: r.ts,
        seq,
      });
      this.log.deleteEvent.run(seq);
    }
    return keys;
  }

  /**
   * Deletes erased events' entries from the index tables, and rebuilds the tail without them.
   * No pass may be in progress (it could hold them).
   */
  forget(keys: ErasedKeys): void {
    this.indexDb.transaction(() => {
      const runs = this.idx.runs.all() as number[];
      for (const k of keys) {
        for (const run of runs) {
          if (this.removeEntry(this.idx.profiles, run, k.profile, k.seq)) this.idx.runShrunk.run(run);
          this.removeEntry(this.idx.messages, run, k.message, k.seq);
        }
      }
    })();
    if (this.writer) this.reloadTail();
  }
}

/** A pass's entries as columns in one buffer: profile hashes, times, seqs, message hashes. */
function columnsOf(entries: readonly TailEntry[]): Float64Array {
  const n = entries.length;
  const buffer = new Float64Array(4 * n);
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    buffer[i] = e.profile;
    buffer[n + i] = e.ts;
    buffer[2 * n + i] = e.seq;
    buffer[3 * n + i] = e.message;
  }
  return buffer;
}

const entryOf = (
  source: string,
  messageId: string,
  profileId: string,
  ts: number,
  seq: number,
  message = messageHash(source, messageId),
): TailEntry => ({ source, messageId, profile: profileHash(profileId), ts, seq, message });

/** True when `slots` maps `hash` to an entry of `entries` for this very message. */
function holds(
  slots: HashSlots,
  entries: readonly TailEntry[],
  hash: number,
  sourceId: string,
  messageId: string,
): boolean {
  for (let s = slots.find(hash); s !== -1; s = slots.find(hash, s)) {
    const e = entries[slots.positionAt(s)]!;
    if (e.messageId === messageId && e.source === sourceId) return true;
  }
  return false;
}

const profileHash = (id: string): number => hash53(id);
// Source ids are generated without spaces, so the space keeps (source, message) pairs distinct.
const messageHash = (sourceId: string, messageId: string): number => hash53Joined(sourceId, messageId);

function prepareLog(db: Database) {
  const s = <T extends unknown[]>(sql: string): Statement<T> => db.prepare<T>(sql);
  return {
    maxSeq: db.prepare('SELECT max(seq) FROM events').pluck(),
    tailKeys: s<[number]>(
      'SELECT seq, source_id, message_id, profile_id, ts FROM events WHERE seq > ? ORDER BY seq',
    ),
    tailChunk: s<[number, number]>(
      'SELECT seq, source_id, message_id, profile_id, ts FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
    ),
    tailOf: s<[number, string]>(
      'SELECT seq, ts FROM events WHERE seq > ? AND profile_id IN (SELECT value FROM json_each(?))',
    ),
    eventBySeq: s<[number]>('SELECT * FROM events WHERE seq = ?'),
    keyOfSeq: s<[number]>('SELECT source_id, message_id FROM events WHERE seq = ?'),
    eventKeys: s<[number]>('SELECT source_id, message_id, profile_id, ts FROM events WHERE seq = ?'),
    deleteEvent: s<[number]>('DELETE FROM events WHERE seq = ?'),
  };
}

function prepareIndex(db: Database) {
  const s = <T extends unknown[]>(sql: string): Statement<T> => db.prepare<T>(sql);
  return {
    indexedSeq: db.prepare("SELECT value FROM meta WHERE key = 'indexed_seq'").pluck(),
    runs: db.prepare('SELECT run FROM runs ORDER BY run').pluck(),
    messageChunksAfter: s<[number, number]>(
      'SELECT rowid, data FROM message_chunks WHERE rowid > ? ORDER BY rowid LIMIT ?',
    ).raw(),
    profiles: chunkStatements(db, 'profile_chunks', 3),
    messages: chunkStatements(db, 'message_chunks', 2),
    runShrunk: s<[number]>('UPDATE runs SET entries = entries - 1 WHERE run = ?'),
  };
}

type ChunkStatements = ReturnType<typeof chunkStatements>;

/** The reads and rewrites of one kind of chunk: `width` numbers an entry, the hash first, the seq last. */
function chunkStatements(db: Database, table: string, width: number) {
  /** A run's chunks that can hold a hash: from the first whose last hash is not below it, in order. */
  const from = (extra: string) =>
    db
      .prepare<[number, number]>(
        `SELECT ${extra}last_hash, data FROM ${table} WHERE run = ? AND last_hash >= ? ORDER BY last_hash, rowid`,
      )
      .raw();
  return {
    width,
    /** Each run's first chunk that can hold a hash, with the run. */
    first: db
      .prepare<[number]>(
        `SELECT c.run, c.last_hash, c.data FROM runs r JOIN ${table} c ON c.rowid = (
           SELECT rowid FROM ${table} WHERE run = r.run AND last_hash >= ? ORDER BY last_hash, rowid LIMIT 1)`,
      )
      .raw(),
    from: from(''),
    /** `from`, with each chunk's rowid first. */
    at: from('rowid, '),
    set: db.prepare<[number, Buffer, number]>(`UPDATE ${table} SET last_hash = ?, data = ? WHERE rowid = ?`),
    drop: db.prepare<[number]>(`DELETE FROM ${table} WHERE rowid = ?`),
  };
}
