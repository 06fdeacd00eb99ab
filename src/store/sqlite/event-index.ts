import type { Database, Statement } from 'better-sqlite3';
import { hash53 } from '../../core/hash53.ts';
import type { TimelineCursor } from '../port.ts';
import type { EventRow } from '../rows.ts';

type Seq = { seq: number; ts: number };
type MessageKey = { source_id: string; message_id: string };
type EventKeys = MessageKey & { profile_id: string; ts: number };

/**
 * The SQLite event log and its two indexes — by profile and time, and by (source, message id).
 *
 * Appends go to `events` alone, which is clustered by seq, so they cost one sequential write.
 * Maintaining the indexes row by row would cost a random B-tree page per event and index, which
 * is what limits a durable SQLite log; instead the writer adds the tail (events after
 * `indexed_seq`) to both index tables in one sorted pass, touching each index page once per
 * batch rather than once per event. Index keys are 53-bit hashes, so the tables stay small.
 * Readers combine the indexes with a scan of the short tail and verify full ids on the event
 * row, and de-duplication checks the tail in memory — so every answer is exact at every moment.
 */
export class EventIndex {
  /** (source, messageId) → seq for events in the tail; only the writer keeps it. */
  private readonly tailKeys = new Map<string, number>();
  private tailSize = 0;
  private readonly stmt: ReturnType<typeof prepare>;

  constructor(
    db: Database,
    private readonly writer: boolean,
  ) {
    db.function('profile_hash', { deterministic: true }, (id: unknown) => profileHash(String(id)));
    db.function('message_hash', { deterministic: true }, (source: unknown, message: unknown) =>
      messageHash(String(source), String(message)),
    );
    this.stmt = prepare(db);
    if (writer) this.reloadTail();
  }

  /** Events not yet in the index tables. */
  get pending(): number {
    return this.tailSize;
  }

  /** Rebuilds the in-memory tail from the log (at start, and after a rollback). */
  reloadTail(): void {
    this.tailKeys.clear();
    for (const r of this.stmt.tailKeys.iterate(this.indexedSeq()) as Iterable<MessageKey & { seq: number }>) {
      this.tailKeys.set(key(r.source_id, r.message_id), r.seq);
    }
    this.tailSize = this.tailKeys.size;
  }

  indexedSeq(): number {
    return this.stmt.indexedSeq.get() as number;
  }

  /** True when this source already stored this message id. */
  seen(sourceId: string, messageId: string): boolean {
    if (this.tailKeys.has(key(sourceId, messageId))) return true;
    const h = messageHash(sourceId, messageId);
    // Almost always no row: one cheap get() answers; only a hit needs the full walk.
    if (this.stmt.firstMessageSeq.get(h) === undefined) return false;
    for (const seq of this.stmt.messageSeqs.iterate(h) as Iterable<number>) {
      const r = this.stmt.keyOfSeq.get(seq) as MessageKey | undefined;
      if (r && r.source_id === sourceId && r.message_id === messageId) return true;
    }
    return false;
  }

  /** Records an appended event in the tail. */
  appended(sourceId: string, messageId: string, seq: number): void {
    this.tailKeys.set(key(sourceId, messageId), seq);
    this.tailSize++;
  }

  /** Moves the whole tail into the index tables, in one transaction the caller opens. */
  indexTail(): number {
    const from = this.indexedSeq();
    const to = this.stmt.maxSeq.get() as number | null;
    if (to === null || to <= from) return 0;
    this.stmt.indexProfiles.run(from, to);
    this.stmt.indexMessages.run(from, to);
    this.stmt.setIndexedSeq.run(to);
    const n = this.tailSize;
    this.tailKeys.clear();
    this.tailSize = 0;
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
      if (this.writer && this.tailKeys.delete(key(r.source_id, r.message_id))) this.tailSize--;
      this.stmt.deleteEvent.run(seq);
    }
  }
}

const key = (sourceId: string, messageId: string) => `${sourceId}\u0000${messageId}`;
const profileHash = (id: string): number => hash53(id);
// Source ids are generated without spaces, so the space keeps (source, message) pairs distinct.
const messageHash = (sourceId: string, messageId: string): number => hash53(`${sourceId} ${messageId}`);

function prepare(db: Database) {
  const s = <T extends unknown[]>(sql: string): Statement<T> => db.prepare<T>(sql);
  return {
    indexedSeq: db.prepare("SELECT value FROM meta WHERE key = 'indexed_seq'").pluck(),
    setIndexedSeq: s<[number]>("UPDATE meta SET value = ? WHERE key = 'indexed_seq'"),
    maxSeq: db.prepare('SELECT max(seq) FROM events').pluck(),
    tailKeys: s<[number]>('SELECT seq, source_id, message_id FROM events WHERE seq > ?'),
    messageSeqs: db.prepare<[number]>('SELECT seq FROM message_ids WHERE message_hash = ?').pluck(),
    firstMessageSeq: db
      .prepare<[number]>('SELECT seq FROM message_ids WHERE message_hash = ? LIMIT 1')
      .pluck(),
    indexProfiles: s<[number, number]>(
      `INSERT OR IGNORE INTO profile_events (profile_hash, ts, seq)
       SELECT profile_hash(profile_id), ts, seq FROM events WHERE seq > ? AND seq <= ? ORDER BY 1, 2, 3`,
    ),
    indexMessages: s<[number, number]>(
      `INSERT OR IGNORE INTO message_ids (message_hash, seq)
       SELECT message_hash(source_id, message_id), seq FROM events WHERE seq > ? AND seq <= ? ORDER BY 1, 2`,
    ),
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
