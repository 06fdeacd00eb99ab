import { Worker } from 'node:worker_threads';
import type { NormalizedEvent } from '../../core/event.ts';
import type { RefusedLink } from '../../core/identity.ts';
import type { ProfileId, WorkspaceId } from '../../core/ids.ts';
import type { Profile } from '../../core/profile.ts';
import type { RefusalSink } from '../apply-events.ts';
import type {
  AppendOutcome,
  AppendResult,
  ErasureReport,
  EventPage,
  IdentityConfig,
  ProfileExport,
  ScannedEvent,
  SourceRecord,
  Store,
  TimelineCursor,
} from '../port.ts';
import { toWire } from './event-wire.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { WriterReply, WriterRequest } from './sqlite-writer.ts';

/** The writer thread's young generation, MB (a worker's default is 48). */
const WRITER_YOUNG_GENERATION_MB = 96;

/**
 * The log's length (frames, about a page each) from which the checkpointer works to let it start
 * over, and how little one of its checkpoints must have copied before the writer finishes (see
 * sqlite-checkpointer.ts). 16 MB of log, well before the writer's own `wal_autocheckpoint`.
 */
export const CHECKPOINT_FRAMES = { long: 4096, finish: 256 };

/**
 * Starts the thread that checkpoints the WAL of the file at `path` every half second. With
 * `behind`, it works to let a long log start over and calls `behind` when the writer should
 * finish a checkpoint (see sqlite-checkpointer.ts); without, it only checkpoints. `threadName` is
 * the thread's name as `top -H` shows it.
 */
export async function startCheckpointer(
  path: string,
  behind?: () => void,
  threadName = 'wal-checkpoint',
): Promise<Worker> {
  const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
    workerData: {
      entry: new URL('./sqlite-checkpointer.ts', import.meta.url).href,
      threadName,
      path,
      intervalMs: 500,
      longFrames: behind === undefined ? Number.POSITIVE_INFINITY : CHECKPOINT_FRAMES.long,
      finishFrames: CHECKPOINT_FRAMES.finish,
    },
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () => resolve());
  });
  worker.on('message', (m: string) => {
    if (m === 'behind') behind?.();
  });
  worker.unref();
  return worker;
}

/** Stops a checkpointer thread once its current checkpoint, if any, is done. */
export async function stopCheckpointer(worker: Worker): Promise<void> {
  const stopped = new Promise<void>((resolve) => {
    const onMessage = (m: string) => {
      if (m !== 'stopped') return;
      worker.off('message', onMessage);
      resolve();
    };
    worker.on('message', onMessage);
  });
  // Held until it answers: an unreferenced thread alone would let the event loop end meanwhile.
  worker.ref();
  worker.postMessage('stop');
  await stopped;
  await worker.terminate();
}

/** Thrown for a failure inside the writer thread, carrying the original error's name and code. */
export class WriterError extends Error {
  override name = 'WriterError';
  readonly code: string | undefined;
  constructor(message: string, original: { name: string; code?: string }) {
    super(message);
    this.code = original.code;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The embedded store as the server runs it: every write goes to one writer thread that owns the
 * SQLite connection (so a commit's fsync never stalls HTTP parsing), and reads use a read-only
 * connection on the calling thread (WAL lets readers and the writer work at once).
 */
export class ThreadedSqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void }
  >();
  private nextId = 1;
  private reader!: SqliteStore;
  private checkpointer: Worker | null = null;
  private failed: Error | null = null;
  /** Whether the writer has a finishCheckpoint call still to answer. */
  private finishing = false;

  private constructor(
    private readonly worker: Worker,
    private readonly onRefused: RefusalSink | undefined,
  ) {}

  /** Starts the writer thread (which migrates the schema), then opens the reader. */
  static async open(options: {
    path: string;
    onRefused?: RefusalSink;
    cacheSize?: number;
  }): Promise<ThreadedSqliteStore> {
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
      workerData: {
        entry: new URL('./sqlite-writer.ts', import.meta.url).href,
        threadName: 'sqlite-writer',
        path: options.path,
        cacheSize: options.cacheSize,
      },
      // Twice a worker's default young generation: the writer makes short-lived objects for every
      // event (rows, keys, outcomes), and with more room fewer of them live long enough to be
      // copied and promoted. Alternating ingestion runs: 50,377 against 42,560 events/s at the
      // median of five pairs, the writer's CPU per event 11.9 against 14.3 us.
      resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB },
    });
    const store = new ThreadedSqliteStore(worker, options.onRefused);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      worker.once('error', onError);
      worker.once('message', (m: WriterReply) => {
        worker.off('error', onError);
        if ('ok' in m && m.ok && m.id === 0) resolve();
        else if ('ok' in m && !m.ok) reject(new Error(`cannot open ${options.path}: ${m.error.message}`));
        else reject(new Error('the SQLite writer thread did not start'));
      });
    });
    worker.on('message', (m: WriterReply) => store.receive(m));
    worker.on('error', (err) => store.fail(err));
    worker.on('exit', (code) => {
      if (code !== 0) store.fail(new Error(`the SQLite writer thread exited with code ${code}`));
    });
    store.reader = new SqliteStore({ path: options.path, readonly: true });
    if (options.path !== ':memory:') {
      store.checkpointer = await startCheckpointer(options.path, () => store.finishCheckpoint());
    }
    return store;
  }

  private receive(m: WriterReply): void {
    if (m.id === -1 && 'refused' in m) {
      this.onRefused?.(m.refused.ws as WorkspaceId, m.refused.refused as RefusedLink[]);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p || !('ok' in m)) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new WriterError(m.error.message, m.error));
  }

  private fail(err: Error): void {
    this.failed = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private send<T>(req: DistributiveOmit<WriterRequest, 'id'>): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  private call<T>(method: Extract<WriterRequest, { op: 'call' }>['method'], ...args: unknown[]): Promise<T> {
    return this.send<T>({ op: 'call', method, args });
  }

  /** Has the writer finish a checkpoint (one call at a time; a failure waits for the next). */
  private finishCheckpoint(): void {
    if (this.finishing || this.failed) return;
    this.finishing = true;
    this.call('finishCheckpoint')
      .catch(() => {})
      .finally(() => {
        this.finishing = false;
      });
  }

  async migrate(): Promise<void> {}

  async close(): Promise<void> {
    // The reader and the checkpointer go first, so the writer's final checkpoint can fold the
    // whole WAL back in.
    if (this.checkpointer) await stopCheckpointer(this.checkpointer);
    await this.reader.close();
    if (!this.failed) await this.call('close');
    await this.worker.terminate();
  }

  ensureWorkspace(id: WorkspaceId, name: string): Promise<void> {
    return this.call('ensureWorkspace', id, name);
  }
  getSetting(ws: WorkspaceId, key: string): Promise<string | null> {
    return this.reader.getSetting(ws, key);
  }
  setSetting(ws: WorkspaceId, key: string, value: string): Promise<void> {
    return this.call('setSetting', ws, key, value);
  }
  createSource(ws: WorkspaceId, name: string, writeKeyHash: string): Promise<SourceRecord> {
    return this.call('createSource', ws, name, writeKeyHash);
  }
  findSourceByWriteKeyHash(hash: string): Promise<SourceRecord | null> {
    return this.reader.findSourceByWriteKeyHash(hash);
  }
  listSources(ws: WorkspaceId): Promise<SourceRecord[]> {
    return this.reader.listSources(ws);
  }

  appendEvents(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
  ): Promise<AppendOutcome[]> {
    return this.sendAppend(groups, identity, false);
  }

  appendWithChanges(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
  ): Promise<AppendResult> {
    return this.sendAppend(groups, identity, true);
  }

  private sendAppend<T>(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
    withChanges: boolean,
  ): Promise<T> {
    const identities: Record<string, IdentityConfig> = {};
    try {
      for (const g of groups) for (const ev of g) identities[ev.workspaceId] ??= identity(ev.workspaceId);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.send({ op: 'appendEvents', groups: toWire(groups), identities, withChanges });
  }

  maxSeq(ws: WorkspaceId): Promise<number> {
    return this.reader.maxSeq(ws);
  }
  scanEvents(
    ws: WorkspaceId,
    range: { afterSeq: number; upToSeq: number; limit: number; names?: readonly string[] },
  ): Promise<ScannedEvent[]> {
    return this.reader.scanEvents(ws, range);
  }
  scanProfiles(
    ws: WorkspaceId,
    afterId: string,
    limit: number,
  ): Promise<{ id: ProfileId; traits: Record<string, unknown> }[]> {
    return this.reader.scanProfiles(ws, afterId, limit);
  }

  findProfile(ws: WorkspaceId, kind: string, value: string): Promise<Profile | null> {
    return this.reader.findProfile(ws, kind, value);
  }
  getProfile(ws: WorkspaceId, id: ProfileId): Promise<Profile | null> {
    return this.reader.getProfile(ws, id);
  }
  listEvents(
    ws: WorkspaceId,
    id: ProfileId,
    limit: number,
    before: TimelineCursor | null,
  ): Promise<EventPage> {
    return this.reader.listEvents(ws, id, limit, before);
  }
  exportProfile(ws: WorkspaceId, id: ProfileId): Promise<ProfileExport | null> {
    return this.reader.exportProfile(ws, id);
  }
  eraseProfile(ws: WorkspaceId, id: ProfileId): Promise<ErasureReport | null> {
    return this.call('eraseProfile', ws, id);
  }
  counts(ws: WorkspaceId): Promise<{ events: number; profiles: number }> {
    return this.reader.counts(ws);
  }
}
