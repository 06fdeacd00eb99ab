import type { Database, Statement } from 'better-sqlite3';
import { hash53, hash53Joined } from '../../core/hash53.ts';
import type { TimelineCursor } from '../port.ts';
import type { EventRow } from '../rows.ts';
import { HashSlots } from './hash-slots.ts';
import { MessageFilter } from './message-filter.ts';
import { multiRowInsert } from './multi-row.ts';

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
/** A pass in progress: its entries, their order in each table, and how far each table got. */
type Pass = {
  entries: TailEntry[];
  byProfile: Uint32Array;
  byMessage: Uint32Array;
  profiles: number;
  messages: number;
  lastSeq: number;
};

/** Indexed message hashes read into the filter per step. */
const FILTER_STEP = 50_000;

/**
 * The SQLite event log and its two indexes — by profile and time, and by (source, message id).
 *
 * Appends go to `events` alone, which is clustered by seq, so they cost one sequential write.
 * Maintaining the indexes row by row would cost a random B-tree page per event and index, which
 * is what limits a durable SQLite log; instead the writer adds the tail (events after
 * `indexed_seq`) to both index tables in one sorted pass, touching each index page once per
 * batch rather than once per event. Index keys are 53-bit hashes, so the tables stay small.
 * The writer keeps the tail's index entries in memory, so a pass reads nothing back from the log.
 * Readers combine the indexes with a scan of the short tail and verify full ids on the event
 * row, and de-duplication checks the tail in memory and, for indexed messages, a Bloom filter
 * before the index — so every answer is exact at every moment, and a new message id (the usual
 * case) costs no lookup.
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
  /** The pass in progress: older entries than the tail's, being indexed a step at a time. */
  private pass: Pass | null = null;
  /** The message `seen` last checked, with its hash (fields, not an object per event). */
  private checkedSource = '';
  private checkedMessage = '';
  private checkedHash = 0;
  /** Message hashes of the indexed events; complete once `filterCursor` is null. */
  private filter: MessageFilter | null = null;
  private filterCursor: number | null = null;
  private readonly stmt: ReturnType<typeof prepare>;

  constructor(
    db: Database,
    private readonly writer: boolean,
    /** Indexed message hashes read into the filter per step. */
    private readonly filterStep = FILTER_STEP,
  ) {
    this.stmt = prepare(db);
    if (writer) {
      this.reloadTail();
      this.filter = new MessageFilter(Math.ceil(((this.stmt.maxSeq.get() as number | null) ?? 0) * 1.25));
      this.filterCursor = -1;
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
    const hashes = this.stmt.messageHashesAfter.all(this.filterCursor, limit) as number[];
    for (const h of hashes) this.filter.add(h);
    this.filterCursor = hashes.length < limit ? null : hashes[hashes.length - 1]!;
  }

  /** Rebuilds the in-memory tail from the log (at start, and after a rollback or an erasure). */
  reloadTail(): void {
    this.tail = [];
    this.tailSlots = new HashSlots();
    // A pass cut short starts again: rows it had inserted are inserted again, and ignored.
    this.pass = null;
    this.passSlots = null;
    for (const r of this.stmt.tailKeys.iterate(this.indexedSeq()) as Iterable<TailRow>) {
      this.appended(r.source_id, r.message_id, r.profile_id, r.ts, r.seq);
    }
  }

  indexedSeq(): number {
    return this.stmt.indexedSeq.get() as number;
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
    // Almost always no row: one cheap get() answers; only a hit needs the full walk.
    if (this.stmt.firstMessageSeq.get(h) === undefined) return false;
    for (const seq of this.stmt.messageSeqs.iterate(h) as Iterable<number>) {
      const r = this.stmt.keyOfSeq.get(seq) as MessageKey | undefined;
      if (r && r.source_id === sourceId && r.message_id === messageId) return true;
    }
    return false;
  }

  /** Records an appended event in the tail. */
  appended(sourceId: string, messageId: string, profileId: string, ts: number, seq: number): void {
    const same = sourceId === this.checkedSource && messageId === this.checkedMessage;
    const message = same ? this.checkedHash : messageHash(sourceId, messageId);
    this.tailSlots.add(message, this.tail.length);
    this.tail.push({ source: sourceId, messageId, profile: profileHash(profileId), ts, seq, message });
  }

  /**
   * Makes the tail the next pass: its entries are sorted once, by each table's key, and then
   * inserted a key range at a time by `step`, so each index page is still written once per pass,
   * but the work rides along with the commits instead of stalling them. New appends form the next
   * tail meanwhile.
   */
  startPass(): void {
    if (this.pass !== null || this.tail.length === 0) return;
    const entries = this.tail;
    this.tail = [];
    this.passSlots = this.tailSlots;
    this.tailSlots = new HashSlots(entries.length);
    let lastSeq = 0;
    for (const e of entries) if (e.seq > lastSeq) lastSeq = e.seq;
    this.pass = {
      entries,
      byProfile: orderBy(entries, (e) => e.profile),
      byMessage: orderBy(entries, (e) => e.message),
      profiles: 0,
      messages: 0,
      lastSeq,
    };
  }

  /**
   * Inserts up to `budget` more entries of the pass into each index table, inside the caller's
   * transaction. When the pass is done, `indexed_seq` moves past it, in the same transaction.
   */
  step(budget: number): void {
    const pass = this.pass;
    if (pass === null) return;
    const { entries } = pass;
    /** Inserts the entries at positions `from` up to `from + budget` of `order`; returns the end. */
    const advance = (order: Uint32Array, from: number, rows: Rows, add: (e: TailEntry) => void) => {
      const end = Math.min(entries.length, from + budget);
      for (let i = from; i < end; i++) add(entries[order[i]!]!);
      rows.flush();
      return end;
    };
    const profiles = new Rows(this.stmt.indexProfiles, 3);
    pass.profiles = advance(pass.byProfile, pass.profiles, profiles, (e) =>
      profiles.add(e.profile, e.ts, e.seq),
    );
    const messages = new Rows(this.stmt.indexMessages, 2);
    pass.messages = advance(pass.byMessage, pass.messages, messages, (e) => messages.add(e.message, e.seq));
    if (pass.profiles < entries.length || pass.messages < entries.length) return;
    this.stmt.setIndexedSeq.run(pass.lastSeq);
    if (this.filter !== null) for (const e of entries) this.filter.add(e.message);
    this.pass = null;
    this.passSlots = null;
  }

  /** Indexes everything not yet indexed now, in one transaction the caller opens. */
  indexTail(): number {
    const n = this.pending;
    this.startPass();
    this.step(Number.POSITIVE_INFINITY);
    this.startPass();
    this.step(Number.POSITIVE_INFINITY);
    return n;
  }

  /**
   * The events of these profile ids (a profile and those merged into it), newest first, before
   * `before`, at most `limit` (all when null). Call inside a read transaction for a consistent view.
   */
  timeline(profileIds: readonly string[], before: TimelineCursor | null, limit: number | null): EventRow[] {
    const indexed = this.indexedSeq();
    const bound = before ?? { ts: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER };
    const cap = limit ?? -1;
    const found = new Map<number, number>();
    for (const id of profileIds) {
      const rows = this.stmt.indexedBefore.iterate(profileHash(id), bound.ts, bound.ts, bound.seq, cap);
      for (const r of rows as Iterable<Seq>) found.set(r.seq, r.ts);
    }
    for (const r of this.stmt.tailOf.iterate(indexed, JSON.stringify(profileIds)) as Iterable<Seq>) {
      if (r.ts < bound.ts || (r.ts === bound.ts && r.seq < bound.seq)) found.set(r.seq, r.ts);
    }
    const order = [...found].sort((a, b) => b[1] - a[1] || b[0] - a[0]);
    const wanted = new Set(profileIds);
    const rows: EventRow[] = [];
    for (const [seq] of order) {
      const row = this.stmt.eventBySeq.get(seq) as EventRow | undefined;
      // A hash collision would bring another profile's event; the full id decides.
      if (row && wanted.has(row.profile_id)) rows.push(row);
      if (limit !== null && rows.length >= limit) break;
    }
    return rows;
  }

  /** Deletes events and their index entries by seq; the caller holds a write transaction. */
  deleteEvents(seqs: readonly number[]): void {
    for (const seq of seqs) {
      const r = this.stmt.eventKeys.get(seq) as EventKeys | undefined;
      if (!r) continue;
      this.stmt.deleteMessage.run(messageHash(r.source_id, r.message_id), seq);
      this.stmt.deleteProfileEvent.run(profileHash(r.profile_id), r.ts, seq);
      this.stmt.deleteEvent.run(seq);
    }
    if (this.writer) this.reloadTail();
  }
}

/**
 * The positions of `entries` in the order of their 53-bit hash's top 32 bits, ties in the order
 * given: close enough to sorted for each index page to be written once per pass (the B-tree places
 * every row exactly). A radix sort in two passes of 16 bits, which takes about half what sorting
 * the keys as numbers did; a pass starts inside a commit, so this time is on a commit's path.
 */
export function orderBy<T>(entries: readonly T[], hash: (e: T) => number): Uint32Array {
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

function prepare(db: Database) {
  const s = <T extends unknown[]>(sql: string): Statement<T> => db.prepare<T>(sql);
  return {
    indexedSeq: db.prepare("SELECT value FROM meta WHERE key = 'indexed_seq'").pluck(),
    setIndexedSeq: s<[number]>("UPDATE meta SET value = ? WHERE key = 'indexed_seq'"),
    maxSeq: db.prepare('SELECT max(seq) FROM events').pluck(),
    tailKeys: s<[number]>(
      'SELECT seq, source_id, message_id, profile_id, ts FROM events WHERE seq > ? ORDER BY seq',
    ),
    messageHashesAfter: db
      .prepare<[number, number]>(
        'SELECT message_hash FROM message_ids WHERE message_hash > ? ORDER BY message_hash LIMIT ?',
      )
      .pluck(),
    messageSeqs: db.prepare<[number]>('SELECT seq FROM message_ids WHERE message_hash = ?').pluck(),
    firstMessageSeq: db
      .prepare<[number]>('SELECT seq FROM message_ids WHERE message_hash = ? LIMIT 1')
      .pluck(),
    indexProfiles: multiRowInsert(db, 'INSERT OR IGNORE INTO profile_events (profile_hash, ts, seq)', 3),
    indexMessages: multiRowInsert(db, 'INSERT OR IGNORE INTO message_ids (message_hash, seq)', 2),
    indexedBefore: s<[number, number, number, number, number]>(
      `SELECT seq, ts FROM profile_events WHERE profile_hash = ? AND (ts < ? OR (ts = ? AND seq < ?))
       ORDER BY ts DESC, seq DESC LIMIT ?`,
    ),
    tailOf: s<[number, string]>(
      'SELECT seq, ts FROM events WHERE seq > ? AND profile_id IN (SELECT value FROM json_each(?))',
    ),
    eventBySeq: s<[number]>('SELECT * FROM events WHERE seq = ?'),
    keyOfSeq: s<[number]>('SELECT source_id, message_id FROM events WHERE seq = ?'),
    eventKeys: s<[number]>('SELECT source_id, message_id, profile_id, ts FROM events WHERE seq = ?'),
    deleteMessage: s<[number, number]>('DELETE FROM message_ids WHERE message_hash = ? AND seq = ?'),
    deleteEvent: s<[number]>('DELETE FROM events WHERE seq = ?'),
    deleteProfileEvent: s<[number, number, number]>(
      'DELETE FROM profile_events WHERE profile_hash = ? AND ts = ? AND seq = ?',
    ),
  };
}
