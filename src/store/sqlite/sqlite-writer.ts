import { parentPort, workerData } from 'node:worker_threads';
import type { WorkspaceId } from '../../core/ids.ts';
import type { IdentityConfig } from '../port.ts';
import { fromWire, type WireEvent } from './event-wire.ts';
import { SqliteStore } from './sqlite-store.ts';

/** Messages between the main thread and the SQLite writer thread. */
export type WriterRequest =
  | {
      id: number;
      op: 'appendEvents';
      groups: WireEvent[][];
      identities: Record<string, IdentityConfig>;
      withChanges: boolean;
    }
  | {
      id: number;
      op: 'call';
      method:
        | 'ensureWorkspace'
        | 'setSetting'
        | 'createSource'
        | 'eraseProfile'
        | 'finishCheckpoint'
        | 'close';
      args: unknown[];
    };
export type WriterReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { name: string; message: string; code?: string } }
  | { id: -1; refused: { ws: string; refused: readonly unknown[] } };

const port = parentPort;
if (port === null) throw new Error('sqlite-writer must run in a worker thread');
const { path, cacheSize } = workerData as { path: string; cacheSize?: number };
let opened: SqliteStore;
try {
  opened = new SqliteStore({
    path,
    indexThread: true,
    ...(cacheSize !== undefined ? { cacheSize } : {}),
    onRefused: (ws, refused) => port.postMessage({ id: -1, refused: { ws, refused } } satisfies WriterReply),
  });
} catch (err) {
  // Report why the database could not be opened; an uncaught error loses its message on the way.
  const e = err as { name?: string; message?: string; code?: string };
  port.postMessage({
    id: 0,
    ok: false,
    error: {
      name: e.name ?? 'Error',
      message: e.message ?? String(err),
      ...(e.code ? { code: e.code } : {}),
    },
  } satisfies WriterReply);
  process.exit(0);
}
const store = opened;

port.on('message', async (req: WriterRequest) => {
  try {
    let result: unknown;
    if (req.op === 'appendEvents') {
      const appended = await store.append(
        fromWire(req.groups),
        (ws: WorkspaceId) => {
          const cfg = req.identities[ws];
          if (!cfg) throw new Error(`no identity configuration for workspace ${ws}`);
          return cfg;
        },
        req.withChanges,
      );
      result = req.withChanges ? appended : appended.outcomes;
    } else {
      const fn = store[req.method] as (...a: unknown[]) => Promise<unknown>;
      result = await fn.apply(store, req.args);
    }
    port.postMessage({ id: req.id, ok: true, result } satisfies WriterReply);
  } catch (err) {
    const e = err as { name?: string; message?: string; code?: string };
    port.postMessage({
      id: req.id,
      ok: false,
      error: {
        name: e.name ?? 'Error',
        message: e.message ?? String(err),
        ...(e.code ? { code: e.code } : {}),
      },
    } satisfies WriterReply);
  }
});
port.postMessage({ id: 0, ok: true, result: 'ready' } satisfies WriterReply);
