import type { Database, Statement } from 'better-sqlite3';
import type { TimelineCursor } from '../port.ts';
import type { EventRow } from '../rows.ts';

/**
 * The SQLite event log and its two indexes — by profile and time, and by source and message id.
 *
 * Appends go to `events` alone, which is clustered by seq, so they cost one sequential write.
 * Maintaining the indexes row by row would cost a random B-tree page per event and index, which
 * is what limits a durable SQLite log; instead the writer adds the tail (events after
 * `indexed_seq`) to both index tables in one sorted pass, touching each index page once per
 * batch rather than once per event. Readers combine the indexes with a scan of the short tail,
 * and de-duplication checks the tail in memory — so every answer is exact at every moment.
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
    const indexed = this.indexedSeq();
    for (const r of this.stmt.tailKeys.iterate(indexed) as Iterable<{
      seq: number;
      source_id: string;
      message_id: string;
    }>) {
      this.tailKeys.set(key(r.source_id, r.message_id), r.seq);
    }
    this.tailSize = this.tailKeys.size;
  }

  indexedSeq(): number {
    return this.stmt.indexedSeq.get() as number;
  }

  /** True when this source already stored this message id. */
  seen(sourceId: string, messageId: string): boolean {
    return (
      this.tailKeys.has(key(sourceId, messageId)) ||
      this.stmt.messageSeen.get(sourceId, messageId) !== undefined
    );
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
      for (const r of this.stmt.indexedBefore.iterate(id, bound.ts, bound.ts, bound.seq, cap) as Iterable<{
        seq: number;
        ts: number;
      }>) {
        found.set(r.seq, r.ts);
      }
    }
    const ids = JSON.stringify(profileIds);
    for (const r of this.stmt.tailOf.iterate(indexed, ids) as Iterable<{ seq: number; ts: number }>) {
      if (r.ts < bound.ts || (r.ts === bound.ts && r.seq < bound.seq)) found.set(r.seq, r.ts);
    }
    const order = [...found].sort((a, b) => b[1] - a[1] || b[0] - a[0]);
    const picked = limit === null ? order : order.slice(0, limit);
    return picked.map(([seq]) => this.stmt.eventBySeq.get(seq) as EventRow);
  }

  /** Deletes events (and their index entries) by seq; the caller holds a write transaction. */
  deleteEvents(seqs: readonly number[], profileIds: readonly string[]): void {
    for (const seq of seqs) {
      const r = this.stmt.keyOfSeq.get(seq) as { source_id: string; message_id: string } | undefined;
      if (!r) continue;
      this.stmt.deleteMessage.run(r.source_id, r.message_id, seq);
      if (this.writer && this.tailKeys.delete(key(r.source_id, r.message_id))) this.tailSize--;
      this.stmt.deleteEvent.run(seq);
    }
    for (const id of profileIds) this.stmt.deleteProfileEvents.run(id);
  }
}

const key = (sourceId: string, messageId: string) => `${sourceId}\u0000${messageId}`;

function prepare(db: Database) {
  const s = <T extends unknown[]>(sql: string): Statement<T> => db.prepare<T>(sql);
  return {
    indexedSeq: db.prepare("SELECT value FROM meta WHERE key = 'indexed_seq'").pluck(),
    setIndexedSeq: s<[number]>("UPDATE meta SET value = ? WHERE key = 'indexed_seq'"),
    maxSeq: db.prepare('SELECT max(seq) FROM events').pluck(),
    tailKeys: s<[number]>('SELECT seq, source_id, message_id FROM events WHERE seq > ?'),
    messageSeen: s<[string, string]>('SELECT 1 FROM message_ids WHERE source_id = ? AND message_id = ?'),
    indexProfiles: s<[number, number]>(
      `INSERT OR IGNORE INTO profile_events (profile_id, ts, seq)
       SELECT profile_id, ts, seq FROM events WHERE seq > ? AND seq <= ? ORDER BY profile_id, ts, seq`,
    ),
    indexMessages: s<[number, number]>(
      `INSERT OR IGNORE INTO message_ids (source_id, message_id, seq)
       SELECT source_id, message_id, seq FROM events WHERE seq > ? AND seq <= ? ORDER BY source_id, message_id`,
    ),
    indexedBefore: s<[string, number, number, number, number]>(
      `SELECT seq, ts FROM profile_events WHERE profile_id = ? AND (ts < ? OR (ts = ? AND seq < ?))
       ORDER BY ts DESC, seq DESC LIMIT ?`,
    ),
    tailOf: s<[number, string]>(
      'SELECT seq, ts FROM events WHERE seq > ? AND profile_id IN (SELECT value FROM json_each(?))',
    ),
    eventBySeq: s<[number]>('SELECT * FROM events WHERE seq = ?'),
    keyOfSeq: s<[number]>('SELECT source_id, message_id FROM events WHERE seq = ?'),
    deleteMessage: s<[string, string, number]>(
      'DELETE FROM message_ids WHERE source_id = ? AND message_id = ? AND seq = ?',
    ),
    deleteEvent: s<[number]>('DELETE FROM events WHERE seq = ?'),
    deleteProfileEvents: s<[string]>('DELETE FROM profile_events WHERE profile_id = ?'),
  };
}
