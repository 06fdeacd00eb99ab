/**
 * Event index benchmark: does storing events get slower as the index grows? Appends `--events`
 * track events (random people among `--people`, random message ids, as clients send them) to a
 * fresh embedded store in commits of 1,000, with the index written by its own thread as in the
 * server, and prints for each block of `--block` events: events/s, what the process wrote to the
 * disk per event (log, index and their checkpoints, from /proc on Linux), and the index file's
 * size. Then reads: timelines of 1,000 random people (p50/p99) and de-duplication of 1,000 old
 * message ids sent again.
 *
 *   npm run bench:index [-- --events 5000000 --people 200000 --block 500000]
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { NormalizedEvent } from '../src/core/event.ts';
import { asSourceId, asWorkspaceId } from '../src/core/ids.ts';
import { normalizeMessage } from '../src/ingest/normalize.ts';
import { DEFAULT_IDENTITY } from '../src/store/port.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { fmt, percentile } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '5000000' },
    people: { type: 'string', default: '200000' },
    block: { type: 'string', default: '500000' },
  },
});
const EVENTS = Number(args.events);
const PEOPLE = Number(args.people);
const BLOCK = Number(args.block);
for (const [name, v] of [
  ['--events', EVENTS],
  ['--people', PEOPLE],
  ['--block', BLOCK],
] as const) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive whole number`);
}

const ws = asWorkspaceId('ws_bench_index');
const source = asSourceId('src_bench_index');
const identity = () => DEFAULT_IDENTITY;
const NAMES = ['Product Viewed', 'Product Added', 'Order Completed', 'Page Viewed'];
let rng = 42;
const random = (n: number) => {
  rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
  return rng % n;
};
const sent: string[] = [];
const track = (i: number): NormalizedEvent => {
  const messageId = randomUUID();
  if (i % 1_000 === 0) sent.push(messageId);
  return normalizeMessage(
    { userId: `person-${random(PEOPLE)}`, event: NAMES[i % NAMES.length], messageId, properties: { i } },
    'track',
    { workspaceId: ws, sourceId: source, receivedAt: Date.UTC(2026, 0, 1) + i, newMessageId: randomUUID },
  );
};

/** Bytes this process has caused to be written to the disk so far (Linux), or NaN. */
const written = (): number => {
  if (!existsSync('/proc/self/io')) return Number.NaN;
  const m = /write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
};

const dir = mkdtempSync(join(tmpdir(), 'concierge-bench-index-'));
const path = join(dir, 'concierge.db');
console.log(
  `Concierge event index benchmark — ${fmt(EVENTS)} events of ${fmt(PEOPLE)} people, commits of 1,000, index thread on, embedded SQLite`,
);
try {
  const store = new SqliteStore({ path, indexThread: true });
  await store.ensureWorkspace(ws, 'bench');
  let blockStart = performance.now();
  let blockWritten = written();
  for (let at = 0; at < EVENTS; at += 1_000) {
    const n = Math.min(1_000, EVENTS - at);
    await store.appendEvents([Array.from({ length: n }, (_, k) => track(at + k))], identity);
    // Between commits the event loop turns, as in the server: the index thread's answers arrive.
    await new Promise((r) => setImmediate(r));
    const done = at + n;
    if (done % BLOCK === 0 || done === EVENTS) {
      const seconds = (performance.now() - blockStart) / 1000;
      const events = done % BLOCK === 0 ? BLOCK : done % BLOCK;
      const bytes = written() - blockWritten;
      const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
      const indexMiB = (size(`${path}.index`) + size(`${path}.index-wal`)) / 2 ** 20;
      console.log(
        `events ${fmt(done - events)}–${fmt(done)}: ${fmt(events / seconds)} events/s, ` +
          `${fmt(bytes / events)} bytes written to disk per event, index file and its write-ahead log ${fmt(indexMiB)} MiB`,
      );
      blockStart = performance.now();
      blockWritten = written();
    }
  }
  // Reads, once every pass has reached the index (the tail holds the rest meanwhile).
  const people = Array.from({ length: 1_000 }, () => `person-${random(PEOPLE)}`);
  const ms: number[] = [];
  let found = 0;
  for (const person of people) {
    const t = performance.now();
    const p = await store.findProfile(ws, 'user_id', person);
    if (p) found += (await store.listEvents(ws, p.id, 100, null)).events.length;
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  console.log(
    `timeline of a random person (profile look-up + newest 100 events): p50 ${fmt(percentile(ms, 50), 2)} ms, p99 ${fmt(percentile(ms, 99), 2)} ms (${fmt(found)} events read)`,
  );
  const retry = sent.slice(0, 1_000);
  const t = performance.now();
  const [outcome] = await store.appendEvents(
    [retry.map((messageId, i) => ({ ...track(i), messageId }))],
    identity,
  );
  console.log(
    `${fmt(retry.length)} old message ids sent again: ${fmt(outcome!.duplicates)} found duplicate in ${fmt(performance.now() - t, 1)} ms`,
  );
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
