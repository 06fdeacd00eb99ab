import { Worker } from 'node:worker_threads';

export type IndexerRequest =
  | { op: 'pass'; id: number; buffer: Float64Array; lastSeq: number }
  | { op: 'stop' };
export type IndexerReply =
  | { op: 'ready' }
  | { op: 'done'; id: number }
  | { op: 'failed'; id: number; message: string }
  | { op: 'stopped' };

/**
 * The writer's handle on the thread that writes the index file (see index-worker.ts). One pass
 * at a time: `index` resolves once the pass's entries and its `indexed_seq` are committed there.
 */
export class IndexerThread {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private onStopped: (() => void) | null = null;
  private broken: Error | null = null;

  constructor(path: string, cacheKiB: number) {
    this.worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
      workerData: {
        entry: new URL('./index-worker.ts', import.meta.url).href,
        threadName: 'event-index',
        path,
        cacheKiB,
      },
    });
    this.worker.on('message', (m: IndexerReply) => {
      if (m.op === 'stopped') this.onStopped?.();
      if (m.op !== 'done' && m.op !== 'failed') return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) this.worker.unref();
      if (m.op === 'done') w?.resolve();
      else w?.reject(new Error(`the index thread could not write a pass: ${m.message}`));
    });
    const fail = (err: Error) => {
      this.broken = err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
      this.onStopped?.();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the index thread exited with code ${code}`)));
    // Idle, the thread does not hold the process open (a pass in flight does); last, because
    // listeners added after it would.
    this.worker.unref();
  }

  /** Indexes a pass (its columns in one buffer, see `passColumns`) up to `lastSeq`. */
  index(buffer: Float64Array<ArrayBuffer>, lastSeq: number): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ op: 'pass', id, buffer, lastSeq } satisfies IndexerRequest, [buffer.buffer]);
    });
  }

  /** Checkpoints and closes the index file, and ends the thread. */
  async stop(): Promise<void> {
    if (!this.broken) {
      const stopped = new Promise<void>((r) => {
        this.onStopped = r;
      });
      this.worker.ref();
      this.worker.postMessage({ op: 'stop' } satisfies IndexerRequest);
      await stopped;
    }
    await this.worker.terminate();
  }
}
