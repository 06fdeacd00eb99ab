/**
 * Ingestion benchmark: end-to-end /v1/batch throughput and acknowledgement latency against a
 * `concierge start` process on the embedded SQLite store, single-event /v1/track requests, the raw
 * SQLite insert rate of the same rows as the storage limit, and `concierge import` of NDJSON.
 *
 *   npm run bench:ingest [-- --seconds 15 --connections 32 --import-events 1000000]
 *   npm run bench:ingest -- --postgres postgres://postgres@127.0.0.1:5432/postgres   (adds a Postgres run)
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Pool } from 'undici';
import { asSourceId, DEFAULT_WORKSPACE } from '../src/core/ids.ts';
import { normalizeMessage } from '../src/ingest/normalize.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import {
  commitTotals,
  EventFactory,
  fmt,
  type LoadOptions,
  load as loadWith,
  percentile,
  report,
  reportCommits,
  type Server,
  startServer,
  WRITE_KEY,
} from './lib.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    connections: { type: 'string', default: '32' },
    users: { type: 'string', default: '100000' },
    'import-events': { type: 'string', default: '1000000' },
    skip: { type: 'string', default: '' },
    postgres: { type: 'string', default: '' },
    'max-rate': { type: 'string', default: '80000' },
  },
});
const SECONDS = Number(args.seconds);
/** Events per second the prepared request bodies can sustain for the whole run. */
const MAX_RATE = Number(args['max-rate']);
const CONNECTIONS = Number(args.connections);
const USERS = Number(args.users);
const IMPORT_EVENTS = Number(args['import-events']);
const skip = new Set(args.skip.split(',').filter(Boolean));
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const load = (server: Server, path: string, perRequest: number, seconds: number) =>
  loadWith(server.url, {
    serverPid: server.child.pid,
    path,
    perRequest,
    seconds,
    connections: CONNECTIONS,
    maxRate: MAX_RATE,
    users: USERS,
  } satisfies LoadOptions);

/**
 * Makes every benchmark person known first (an identify each, untimed), so the timed run measures
 * the steady state of a store that already holds its customers.
 */
async function prefill(url: string): Promise<void> {
  const pool = new Pool(url, { connections: 8 });
  const t0 = performance.now();
  for (let start = 0; start < USERS; start += 800) {
    await Promise.all(
      Array.from({ length: 8 }, async (_, k) => {
        const from = start + k * 100;
        const batch = [];
        for (let u = from; u < Math.min(from + 100, USERS); u++) {
          const ids =
            u % 3 !== 0 ? { userId: `user-${u}`, anonymousId: `anon-${u}` } : { anonymousId: `anon-${u}` };
          batch.push({
            type: 'identify',
            ...ids,
            traits: { email: `user-${u}@example.com`, signup: 'bench' },
          });
        }
        if (batch.length === 0) return;
        const res = await pool.request({
          path: '/v1/batch',
          method: 'POST',
          headers: { authorization: AUTH },
          body: JSON.stringify({ batch }),
        });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`prefill failed: ${res.statusCode}`);
      }),
    );
  }
  await pool.close();
  console.log(
    `prefill: ${fmt(USERS)} people identified in ${((performance.now() - t0) / 1000).toFixed(1)} s (${fmt(USERS / ((performance.now() - t0) / 1000))} new profiles/s)`,
  );
}

/**
 * Inserts the same normalised rows straight into a fresh store's SQLite file, one transaction per
 * 10,000, with no HTTP, validation or identity work: once into the log alone (the floor of an
 * append), and once with the store's sorted index pass every 50,000 rows (the same storage work
 * the pipeline does).
 */
function rawInsertRates(n: number): { append: number; indexed: number } {
  const factory = new EventFactory(USERS);
  const ctx = {
    workspaceId: DEFAULT_WORKSPACE,
    sourceId: asSourceId('src_raw'),
    receivedAt: Date.now(),
    newMessageId: () => 'x',
  };
  const rows = Array.from({ length: n }, () => {
    const m = factory.next();
    return normalizeMessage(m, m.type as 'track', ctx);
  });
  const run = (withIndex: boolean): number => {
    const dir = mkdtempSync(join(tmpdir(), 'concierge-raw-'));
    const store = new SqliteStore({ path: join(dir, 'raw.db'), indexBatch: Number.MAX_SAFE_INTEGER });
    const db = (store as unknown as { db: import('better-sqlite3').Database }).db;
    const insert = db.prepare(
      `INSERT INTO events (workspace_id, source_id, message_id, profile_id, type, name, ts, received_at, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const tx = db.transaction((chunk: typeof rows) => {
      for (const ev of chunk) {
        insert.run(
          ev.workspaceId,
          ev.sourceId,
          ev.messageId,
          `profile-${ev.userId ?? ev.anonymousId}`,
          ev.type,
          ev.name,
          ev.timestamp,
          ev.receivedAt,
          ev.bodyJson,
        );
      }
    });
    const started = performance.now();
    for (let i = 0; i < rows.length; i += 10_000) {
      tx(rows.slice(i, i + 10_000));
      if (withIndex && (i + 10_000) % 50_000 === 0) store.indexNow();
    }
    if (withIndex) store.indexNow();
    const rate = n / ((performance.now() - started) / 1000);
    void store.close().then(() => rmSync(dir, { recursive: true, force: true }));
    return rate;
  };
  // Each twice, alternating, keeping the better run: the first pays for JIT warm-up.
  const append = [run(false)];
  const indexed = [run(true)];
  append.push(run(false));
  indexed.push(run(true));
  return { append: Math.max(...append), indexed: Math.max(...indexed) };
}

console.log(
  `Concierge ingestion benchmark — ${CONNECTIONS} connections, ${fmt(USERS)} people, embedded SQLite (synchronous=FULL)`,
);
const results: Record<string, number> = {};

if (!skip.has('batch')) {
  const server = await startServer();
  try {
    await prefill(server.url);
    await load(server, '/v1/batch', 100, 2); // warm-up
    const before = await commitTotals(server.url);
    const r = await load(server, '/v1/batch', 100, SECONDS);
    report('POST /v1/batch (100 events/request)', r, 'events');
    reportCommits(before, await commitTotals(server.url));
    results.batch = r.events / r.seconds;
    results.batchP99 = percentile(r.latencies, 99);
  } finally {
    await server.stop();
  }
}

if (args.postgres !== '') {
  // The same /v1/batch run on the Postgres store, in a database made for it and dropped after.
  const admin = new pg.Client({ connectionString: args.postgres });
  await admin.connect();
  const db = `concierge_bench_${process.pid}`;
  await admin.query(`CREATE DATABASE ${db}`);
  const url = new URL(args.postgres);
  url.pathname = `/${db}`;
  const server = await startServer({ CONCIERGE_STORE: url.toString() });
  try {
    await prefill(server.url);
    await load(server, '/v1/batch', 100, 2);
    const r = await load(server, '/v1/batch', 100, SECONDS);
    report('POST /v1/batch on Postgres (100 events/request)', r, 'events');
  } finally {
    await server.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${db}`);
    await admin.end();
  }
}

if (!skip.has('raw')) {
  const raw = rawInsertRates(500_000);
  console.log(
    `raw SQLite, same rows, 10,000 per transaction, no HTTP/validation/identity: append to the log ${fmt(raw.append)} rows/s; append + sorted index pass ${fmt(raw.indexed)} rows/s`,
  );
  if (results.batch) {
    console.log(
      `pipeline / raw storage limit: ${(results.batch / raw.indexed).toFixed(2)} of append+index, ${(results.batch / raw.append).toFixed(2)} of append alone`,
    );
  }
}

if (!skip.has('track')) {
  const server = await startServer();
  try {
    await prefill(server.url);
    await load(server, '/v1/track', 1, 2);
    const r = await load(server, '/v1/track', 1, Math.min(SECONDS, 10));
    report('POST /v1/track (1 event/request)', r, 'requests');
  } finally {
    await server.stop();
  }
}

if (!skip.has('import')) {
  const dir = mkdtempSync(join(tmpdir(), 'concierge-import-'));
  const file = join(dir, 'events.ndjson');
  const out = createWriteStream(file);
  const factory = new EventFactory(USERS);
  for (let i = 0; i < IMPORT_EVENTS; i++) {
    if (!out.write(`${JSON.stringify(factory.next())}\n`))
      await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  const t0 = performance.now();
  const run = spawnSync(
    process.execPath,
    ['bin/concierge.mjs', 'import', file, '--data', join(dir, 'data')],
    {
      encoding: 'utf8',
      env: { ...process.env },
    },
  );
  const secs = (performance.now() - t0) / 1000;
  if (run.status !== 0) console.log(`import failed: ${run.stderr}`);
  else {
    const summary = run.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('imported'))
      .at(-1);
    console.log(
      `concierge import of ${fmt(IMPORT_EVENTS)} NDJSON events: ${fmt(IMPORT_EVENTS / secs)} events/s end to end (${secs.toFixed(1)} s, both passes); ${summary}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}
