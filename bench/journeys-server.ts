/**
 * The server of the journeys benchmark, in a process of its own: the product built as
 * `concierge start` builds it (the same configuration from flags and environment, `createApp`,
 * listening on loopback), plus what the benchmark needs to see from inside:
 *
 * - the time each journey batch with outbox rows is committed (`onJourneyCommitted`, called right
 *   after the journey store's transaction returns), with the message id of the event that
 *   triggered each run;
 * - with `BENCH_CLOCK=virtual`, a virtual clock the benchmark moves over IPC, so a million timers
 *   come due at once without waiting a day;
 * - with `BENCH_DELIVERER=none`, no deliverer: messages wait in the outbox.
 *
 *   node --import tsx bench/journeys-server.ts DATA_DIR      (spawned by bench/journeys.ts)
 */
import { mkdirSync } from 'node:fs';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { VirtualClock } from '../src/core/clock.ts';
import type { OutboxRow } from '../src/journeys/store/port.ts';

export type ToServer =
  | { cmd: 'commits' }
  | { cmd: 'memory' }
  | { cmd: 'advance'; ms: number; expect: number }
  | { cmd: 'stop' };

export type FromServer =
  | { type: 'ready'; url: string }
  | { type: 'commits'; rows: [string, number][] }
  | { type: 'memory'; rss: number; heapUsed: number }
  | { type: 'fired'; movedAt: number; firstAt: number; lastAt: number; sends: number; batches: number }
  | { type: 'stopped' };

const send = (m: FromServer) => process.send?.(m);
/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const wallNow = () => performance.timeOrigin + performance.now();

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: journeys-server.ts DATA_DIR');
const config = loadConfig({ data: dataDir, port: '0', host: '127.0.0.1' }, process.env);
mkdirSync(config.dataDir, { recursive: true });
const clock = process.env.BENCH_CLOCK === 'virtual' ? new VirtualClock(Date.now()) : null;
const recordIds = process.env.BENCH_RECORD === 'ids';

const committed: [string, number][] = [];
let sends = 0;
let batches = 0;
let firstAt = 0;
let lastAt = 0;
let waiter: { expect: number; done: () => void } | null = null;

const onJourneyCommitted = (rows: readonly OutboxRow[]) => {
  const t = wallNow();
  let n = 0;
  for (const r of rows) {
    if (r.kind !== 'send') continue;
    n++;
    if (recordIds) {
      const ev = r.payload.event as { messageId?: string } | null;
      committed.push([ev?.messageId ?? '', t]);
    }
  }
  if (n === 0) return;
  if (sends === 0) firstAt = t;
  sends += n;
  batches++;
  lastAt = t;
  if (waiter && sends >= waiter.expect) {
    waiter.done();
    waiter = null;
  }
};

const app = await createApp(config, {
  ...(clock ? { clock } : {}),
  // `none`: messages wait in the outbox; otherwise the product's delivery pipeline performs them.
  ...(process.env.BENCH_DELIVERER === 'none' ? { deliverer: null } : {}),
  onJourneyCommitted,
});
await app.http.listen({ port: 0, host: '127.0.0.1' });
const address = app.http.server.address();
if (typeof address !== 'object' || address === null) throw new Error('no address');
await app.journeys.ready;

process.on('message', (m: ToServer) => {
  switch (m.cmd) {
    case 'commits':
      send({ type: 'commits', rows: committed.splice(0) });
      return;
    case 'memory': {
      const u = process.memoryUsage();
      send({ type: 'memory', rss: u.rss, heapUsed: u.heapUsed });
      return;
    }
    case 'advance': {
      if (clock === null) throw new Error('advance needs BENCH_CLOCK=virtual');
      sends = 0;
      batches = 0;
      const movedAt = wallNow();
      void new Promise<void>((done) => {
        waiter = { expect: m.expect, done };
        clock.advance(m.ms);
      }).then(() => send({ type: 'fired', movedAt, firstAt, lastAt, sends, batches }));
      return;
    }
    case 'stop':
      void app.close().then(() => {
        send({ type: 'stopped' });
        process.exit(0);
      });
      return;
  }
});
send({ type: 'ready', url: `http://127.0.0.1:${address.port}` });
