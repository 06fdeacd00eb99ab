import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

/**
 * The SQLite VFS of native/walbuf.c: it writes a connection's write-ahead log in writes of up to
 * 128 KiB instead of two per page. Built at install by scripts/build-native.mjs. Loading it makes
 * it the process's default VFS, which passes everything straight through except the log of a
 * connection that asks for the buffer (see `openWalBuffered`). When it was not built (no C
 * compiler) or is turned off, connections open as usual.
 */
const library = fileURLToPath(
  new URL(`../../../native/build/walbuf.${process.platform === 'darwin' ? 'dylib' : 'so'}`, import.meta.url),
);

let state: { ok: true } | { ok: false; why: string } | null = null;

/** Whether the VFS is registered in this process (loads it on first call). */
export function walBufferStatus(): { ok: true } | { ok: false; why: string } {
  if (state !== null) return state;
  if (process.env.CONCIERGE_WAL_BUFFER === 'off') {
    state = { ok: false, why: 'turned off by CONCIERGE_WAL_BUFFER=off' };
  } else if (!existsSync(library)) {
    state = { ok: false, why: `${library} was not built (npm ci builds it with a C compiler)` };
  } else {
    // The VFS it registers stays, for the whole process, after this connection closes.
    const db = new Database(':memory:');
    try {
      db.loadExtension(library);
      state = { ok: true };
    } catch (err) {
      state = { ok: false, why: `loading ${library} failed: ${(err as Error).message}` };
    } finally {
      db.close();
    }
  }
  return state;
}

/**
 * Opens `path` in WAL mode with `synchronous = FULL`, its log written through the buffer when the
 * VFS is available (the buffer relies on the sync such a commit makes before it is visible).
 * Returns the connection and whether the buffer is on.
 */
export function openWalBuffered(path: string): { db: Database.Database; buffered: boolean } {
  // Loaded before the open: a connection's files belong to the VFS that was the default then.
  const loaded = walBufferStatus().ok;
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // The VFS answers the pragma with its effective state, as text.
  const buffered =
    loaded && path !== ':memory:' && String(db.pragma('concierge_wal_buffer = on', { simple: true })) === '1';
  return { db, buffered };
}
