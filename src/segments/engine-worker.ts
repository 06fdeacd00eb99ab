import { parentPort } from 'node:worker_threads';
import { type HostCall, LocalEngineHost } from './engine-host.ts';

/** The segment engine's own thread: runs each forwarded call in order and answers it. */
const port = parentPort;
if (port === null) throw new Error('engine-worker must run in a worker thread');
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
