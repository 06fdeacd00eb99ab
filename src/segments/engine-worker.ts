import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { ENGINE_NICE, type HostCall, LocalEngineHost } from './engine-host.ts';

/** The segment engine's own thread: runs each forwarded call in order and answers it. */
const port = parentPort;
if (port === null) throw new Error('engine-worker must run in a worker thread');
try {
  // On Linux a priority belongs to a thread (0 is the calling one): the rest of the process keeps its own.
  setPriority(0, ENGINE_NICE);
} catch {
  // Not allowed here: the engine runs at the process's priority, as fast as before.
}
const host = new LocalEngineHost();
let queue: Promise<unknown> = Promise.resolve();
port.on('message', (m: { id: number; call: HostCall }) => {
  queue = queue.then(async () => {
    try {
      port.postMessage({ id: m.id, ok: true, result: await host.call(m.call) });
    } catch (err) {
      port.postMessage({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  });
});
