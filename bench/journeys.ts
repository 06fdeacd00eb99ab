/**
 * Journeys benchmark, against the product in a process of its own on the embedded SQLite store
 * (bench/journeys-server.ts: `createApp` as `concierge start` runs it, plus a hook that reports
 * each journey commit):
 *
 *   (a) trigger latency: a journey `Cart Viewed` → `send` at once; `/v1/batch` paced at
 *       `--rate` events/s (`--trigger-share` of them `Cart Viewed`, the rest other traffic) for
 *       `--seconds`; per triggering event, the time from the HTTP acknowledgement of its request
 *       to the commit of the `send` row in the outbox (p50/p90/p99/max; target p99 ≤ 50 ms);
 *   (b) `--runs` runs waiting on timers: entered through the API (one `Cart Viewed` per person),
 *       each waiting a day at a `wait` node; resident memory and journey store size; then the
 *       virtual clock moves a day on and the rate at which due timers fire and advance their
 *       runs to a committed `send` is measured (target ≥ 20,000/s);
 *   (c) the same number of delayed jobs through BullMQ on the local Redis: added with `addBulk`,
 *       all due at once, then how fast one Worker completes them; reported as a ratio to (b).
 *
 *   npm run bench:journeys                                   # defaults: 20 s at 10,000/s, 1M runs
 *   npm run bench:journeys -- --seconds 5 --runs 50000       # a quick look
 *   npm run bench:journeys -- --skip latency,bullmq --profile   # CPU profile of the server
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { Queue, Worker } from 'bullmq';
import { Pool } from 'undici';
import { DEFAULT_WORKSPACE } from '../src/core/ids.ts';
import { checkJourney } from '../src/journeys/definition.ts';
import { begin, snapshot } from '../src/journeys/step.ts';
import { SqliteJourneyStore } from '../src/journeys/store/sqlite-journey-store.ts';
import { uuid7 } from '../src/store/uuid7.ts';
import { RespClient } from './journeys-redis.ts';
import type { FromServer, ToServer } from './journeys-server.ts';
import { ADMIN_TOKEN, fmt, percentile, WRITE_KEY } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '10000' },
    'trigger-share': { type: 'string', default: '0.15' },
    users: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '1000000' },
    'bull-concurrency': { type: 'string', default: '100' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    skip: { type: 'string', default: '' },
    entry: { type: 'string', default: 'store' },
    profile: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const RATE = Number(args.rate);
const SHARE = Number(args['trigger-share']);
const USERS = Number(args.users);
const RUNS = Number(args.runs);
const BULL_CONCURRENCY = Number(args['bull-concurrency']);
const ENTRY = args.entry === 'api' ? 'api' : 'store';
const SKIP = new Set(args.skip.split(',').filter(Boolean));
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const DAY = 86_400_000;
const MiB = 2 ** 20;
/** Wall-clock milliseconds with sub-millisecond resolution, comparable with the server's. */
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

class BenchServer {
  private readonly waiting = new Map<string, (m: FromServer) => void>();
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly dataDir: string,
  ) {
    child.on('message', (m: FromServer) => {
      const w = this.waiting.get(m.type);
      this.waiting.delete(m.type);
      w?.(m);
    });
  }

  static async start(
    env: Record<string, string>,
    profileDir: string | null,
    dir?: string,
  ): Promise<BenchServer> {
    const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'concierge-bench-journeys-'));
    const child = spawn(
      process.execPath,
      [
        ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
        '--import',
        'tsx',
        'bench/journeys-server.ts',
        dataDir,
      ],
      {
        env: {
          ...process.env,
          CONCIERGE_ADMIN_TOKEN: ADMIN_TOKEN,
          CONCIERGE_WRITE_KEY: WRITE_KEY,
          LOG_LEVEL: 'warn',
          ...env,
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    const ready = await new Promise<FromServer>((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    if (ready.type !== 'ready') throw new Error(`unexpected ${ready.type}`);
    return new BenchServer(child, ready.url, dataDir);
  }

  ask<T extends FromServer['type']>(m: ToServer, reply: T): Promise<Extract<FromServer, { type: T }>> {
    return new Promise((resolve) => {
      this.waiting.set(reply, resolve as (m: FromServer) => void);
      this.child.send(m);
    });
  }

  get journeysDb(): string {
    return join(this.dataDir, 'concierge-journeys.db');
  }

  async stop(keepData = false): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.send({ cmd: 'stop' } satisfies ToServer);
      // A runtime far behind may not finish closing: after 20 s the process is killed.
      const kill = setTimeout(() => {
        console.log('    (the server did not stop within 20 s: killed)');
        this.child.kill('SIGKILL');
      }, 20_000);
      await exited;
      clearTimeout(kill);
    }
    if (!keepData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function adminCall<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const putTemplate = (url: string, key: string) =>
  adminCall(url, 'PUT', `/api/templates/${key}`, {
    channel: 'email',
    defaultLocale: 'en',
    locales: { en: { subject: 'Your cart', text: 'Hello {{ profile.traits.name | default: "there" }}' } },
  });

interface Stats {
  entered: number;
  waiting: number;
  completed: number;
  nodes: Record<string, Record<string, number>>;
}

/** Sends every body once over `connections` connections, as fast as the server acknowledges. */
async function sendAll(url: string, bodies: Iterable<string>, connections: number): Promise<number> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const it = bodies[Symbol.iterator]();
  let failed = 0;
  const worker = async () => {
    for (let n = it.next(); !n.done; n = it.next()) {
      const res = await pool.request({
        path: '/v1/batch',
        method: 'POST',
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        body: n.value,
      });
      await res.body.text();
      if (res.statusCode !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await pool.close();
  if (failed > 0) throw new Error(`${failed} batches refused`);
  return failed;
}

function* batches(total: number, per: number, make: (i: number) => object): Generator<string> {
  for (let from = 0; from < total; from += per) {
    const batch = [];
    for (let i = from; i < Math.min(total, from + per); i++) batch.push(make(i));
    yield JSON.stringify({ batch });
  }
}

// ---------------------------------------------------------------------------------------------
// (a) Trigger latency
// ---------------------------------------------------------------------------------------------

/** Live traffic: `SHARE` of it `Cart Viewed` (triggers), the rest browsing, orders and identifies. */
class Traffic {
  private n = 0;
  next(): { event: Record<string, unknown>; triggers: boolean } {
    const i = this.n++;
    const u = (i * 2654435761) % USERS;
    const base = { userId: `user-${u}`, messageId: randomUUID() };
    const r = Math.random();
    if (r < SHARE) {
      return {
        event: {
          ...base,
          type: 'track',
          event: 'Cart Viewed',
          properties: { cart_id: `c-${u}`, value: 59.9, currency: 'EUR' },
        },
        triggers: true,
      };
    }
    const x = (r - SHARE) / (1 - SHARE);
    const event =
      x < 0.1
        ? { ...base, type: 'identify', traits: { plan: u % 2 ? 'pro' : 'free' } }
        : x < 0.4
          ? { ...base, type: 'page', name: 'Product', properties: { path: `/p/${u % 500}` } }
          : x < 0.9
            ? {
                ...base,
                type: 'track',
                event: 'Product Viewed',
                properties: { product_id: `sku-${u % 500}`, price: 19.99 },
              }
            : {
                ...base,
                type: 'track',
                event: 'Order Completed',
                properties: { order_id: `o-${i}`, revenue: 42.5, currency: 'EUR' },
              };
    return { event, triggers: false };
  }
}

interface Paced {
  /** Message id of each triggering event → wall time its request was acknowledged. */
  acks: Map<string, number>;
  rate: number;
  ackLatencies: number[];
  errors: number;
  /** Requests still unanswered 30 s after the last was sent (dropped). */
  unanswered: number;
}

/** Sends `rate` events/s in batches of 100 for `seconds`, paced, recording acknowledgements. */
async function paced(url: string, traffic: Traffic, rate: number, seconds: number): Promise<Paced> {
  const pool = new Pool(url, { connections: 16 });
  const perBatch = 100;
  const interval = (1000 * perBatch) / rate;
  const acks = new Map<string, number>();
  const ackLatencies: number[] = [];
  const inflight: Promise<void>[] = [];
  let sent = 0;
  let errors = 0;
  let unanswered = 0;
  const started = performance.now();
  for (let k = 0; performance.now() - started < seconds * 1000; k++) {
    const wait = started + k * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const events: Record<string, unknown>[] = [];
    const ids: string[] = [];
    for (let i = 0; i < perBatch; i++) {
      const e = traffic.next();
      events.push(e.event);
      if (e.triggers) ids.push(e.event.messageId as string);
    }
    const body = JSON.stringify({ batch: events });
    const t0 = performance.now();
    inflight.push(
      pool
        .request({
          path: '/v1/batch',
          method: 'POST',
          headers: { authorization: AUTH, 'content-type': 'application/json' },
          body,
        })
        .then(async (res) => {
          if (unanswered > 0) return;
          // The acknowledgement: the response has arrived (the events are committed to the log).
          const acked = wallNow();
          ackLatencies.push(performance.now() - t0);
          await res.body.text();
          if (res.statusCode !== 200) {
            errors++;
            return;
          }
          sent += perBatch;
          for (const id of ids) acks.set(id, acked);
        })
        .catch(() => undefined),
    );
  }
  // A server that cannot keep up is given 30 s to answer what was sent, then the rest is dropped.
  const all = Promise.all(inflight);
  const timedOut = await Promise.race([all.then(() => false), sleep(30_000).then(() => true)]);
  const rate_ = sent / ((performance.now() - started) / 1000);
  if (timedOut) {
    unanswered = inflight.length - (sent + errors * perBatch) / perBatch;
    await pool.destroy();
    await all.catch(() => undefined);
  } else await pool.close();
  ackLatencies.sort((a, b) => a - b);
  return { acks, rate: rate_, ackLatencies, errors, unanswered };
}

const ms = (n: number) => (Number.isFinite(n) ? `${fmt(n, 1)} ms` : '∞');
const dist = (xs: number[]) =>
  `p50 ${ms(percentile(xs, 50))}, p90 ${ms(percentile(xs, 90))}, p99 ${ms(percentile(xs, 99))}, max ${ms(xs.at(-1) ?? Number.NaN)}`;

async function triggerLatency(profileDir: string | null): Promise<void> {
  const server = await BenchServer.start({ BENCH_RECORD: 'ids' }, profileDir);
  try {
    await putTemplate(server.url, 'cart-nudge');
    await adminCall(server.url, 'PUT', '/api/journeys/cart-nudge?publish=true', {
      name: 'Cart nudge',
      trigger: { event: 'Cart Viewed' },
      start: 'nudge',
      nodes: { nudge: { type: 'send', channel: 'email', template: 'cart-nudge', next: null } },
      reentry: 'always',
    });
    // The people exist before the clock starts (untimed), as in the ingestion benchmark.
    const t0 = performance.now();
    await sendAll(
      server.url,
      batches(USERS, 500, (u) => ({
        type: 'identify',
        userId: `user-${u}`,
        messageId: randomUUID(),
        traits: { email: `user-${u}@example.com`, plan: 'free' },
      })),
      8,
    );
    console.log(
      `prefill: ${fmt(USERS)} people identified in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const traffic = new Traffic();
    await paced(server.url, traffic, RATE, 3); // warm-up, not counted
    await sleep(500);
    await server.ask({ cmd: 'commits' }, 'commits');
    const p = await paced(server.url, traffic, RATE, SECONDS);
    // Every acknowledged trigger's send is committed shortly after; collect until all are in.
    const commits = new Map<string, number>();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      for (const [id, t] of (await server.ask({ cmd: 'commits' }, 'commits')).rows) commits.set(id, t);
      if ([...p.acks.keys()].every((id) => commits.has(id))) break;
      await sleep(200);
    }
    // A send not committed within 30 s of the end counts as infinitely late.
    const lat: number[] = [];
    let missing = 0;
    for (const [id, acked] of p.acks) {
      const c = commits.get(id);
      if (c === undefined) missing++;
      lat.push(c === undefined ? Number.POSITIVE_INFINITY : c - acked);
    }
    lat.sort((a, b) => a - b);
    const before = lat.filter((x) => x < 0).length;

    // Cross-check from the store itself: each outbox row's `created_at` is the step's `now`,
    // taken when the runtime began the batch (before its reads, the step and the commit).
    const db = new Database(server.journeysDb, { readonly: true, fileMustExist: true });
    const rows = db
      .prepare(
        "SELECT json_extract(payload, '$.event.messageId') AS id, created_at FROM outbox WHERE kind = 'send'",
      )
      .all() as { id: string; created_at: number }[];
    db.close();
    const stepStart: number[] = [];
    for (const r of rows) {
      const acked = p.acks.get(r.id);
      if (acked !== undefined) stepStart.push(r.created_at - acked);
    }
    stepStart.sort((a, b) => a - b);
    const ok = percentile(lat, 99) <= 50;
    console.log(
      `(a) trigger latency at ${fmt(p.rate)} events/s for ${SECONDS} s (${fmt(p.acks.size)} acknowledged triggers, ${(SHARE * 100).toFixed(0)} % of events; ${p.errors} refused batches, ${fmt(p.unanswered)} requests unanswered 30 s after the last was sent):\n` +
        `    request acknowledged → send committed in the outbox: ${dist(lat)} ` +
        `(${fmt(lat.length - missing)} measured, ${fmt(missing)} not committed 30 s after the last request, ${before} committed before the client read the acknowledgement)\n` +
        `    request acknowledged → the runtime's step began (outbox created_at, ms resolution): ${dist(stepStart)}\n` +
        `    acknowledgement latency of /v1/batch (100 events): ${dist(p.ackLatencies)}\n` +
        `    target p99 ≤ 50 ms: ${ok ? 'met' : 'NOT met'}`,
    );
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// (b) A million runs waiting on timers
// ---------------------------------------------------------------------------------------------

const TIMER_JOURNEY = {
  name: 'Cart reminder after a day',
  trigger: { event: 'Cart Viewed' },
  start: 'wait',
  nodes: {
    wait: { type: 'wait', duration: '1d', next: 'remind' },
    remind: { type: 'send', channel: 'email', template: 'cart-reminder', next: null },
  },
};

/** Enters `RUNS` people through /v1/batch (one `Cart Viewed` each) and waits until every run waits. */
async function enterThroughApi(server: BenchServer): Promise<void> {
  const t0 = performance.now();
  await sendAll(
    server.url,
    batches(RUNS, 500, (i) => ({
      type: 'track',
      event: 'Cart Viewed',
      userId: `cart-${i}`,
      messageId: `cart-${i}`,
      properties: { cart_id: `c-${i}`, value: 59.9, currency: 'EUR' },
    })),
    8,
  );
  const ingested = (performance.now() - t0) / 1000;
  for (;;) {
    const s = await adminCall<Stats>(server.url, 'GET', '/api/journeys/cart-timer/stats');
    if (s.waiting >= RUNS) break;
    await sleep(500);
  }
  const entered = (performance.now() - t0) / 1000;
  console.log(
    `(b) ${fmt(RUNS)} runs entered through /v1/batch (one Cart Viewed per new person, 500 per request): ` +
      `events acknowledged in ${ingested.toFixed(1)} s (${fmt(RUNS / ingested)} events/s), all runs waiting after ${entered.toFixed(1)} s ` +
      `(${fmt(RUNS / entered)} runs/s)`,
  );
}

/**
 * Writes `RUNS` runs into the stopped server's journey store through the store's own `commit`,
 * each made by the step function exactly as an entry would make it (run, entry record, counters),
 * 10,000 per transaction. Profiles are not created: a run waiting on a timer never reads one.
 */
async function enterThroughStore(dbPath: string): Promise<void> {
  const checked = checkJourney(TIMER_JOURNEY, 'cart-timer');
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const j = checked.value;
  const store = new SqliteJourneyStore(dbPath);
  await store.migrate();
  const now = Date.now();
  const t0 = performance.now();
  const chunk = 10_000;
  for (let from = 0; from < RUNS; from += chunk) {
    const runs = [];
    const entries = [];
    const stats = [];
    for (let i = from; i < Math.min(RUNS, from + chunk); i++) {
      const profileId = `00000000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
      const trigger = snapshot('Cart Viewed', now, `cart-${i}`, { cart_id: `c-${i}`, value: 59.9 });
      const t = begin(j, 1, { id: uuid7(now), profileId, trigger }, { now, profile: null });
      runs.push(t.state);
      entries.push({
        journey: j.key,
        profileId,
        group: 'treatment' as const,
        entries: 1,
        firstAt: now,
        lastAt: now,
      });
      for (const d of t.stats) stats.push({ journey: j.key, ...d });
    }
    await store.commit(DEFAULT_WORKSPACE, { runs, entries, outbox: [], cancelRuns: [], stats });
  }
  await store.close();
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `(b) ${fmt(RUNS)} runs written through the journey store's commit (made by the step function, 10,000 per transaction) ` +
      `in ${secs.toFixed(1)} s (${fmt(RUNS / secs)} runs/s)`,
  );
}

async function waitingRuns(profileDir: string | null): Promise<number> {
  // Messages wait in the outbox (no deliverer): the dispatcher claims and defers each one, and
  // delivery's own cost stays out of the timer rate.
  const env = { BENCH_CLOCK: 'virtual', BENCH_RECORD: 'count', BENCH_DELIVERER: 'none' };
  let server = await BenchServer.start(env, profileDir);
  const dataDir = server.dataDir;
  try {
    await putTemplate(server.url, 'cart-reminder');
    await adminCall(server.url, 'PUT', '/api/journeys/cart-timer?publish=true', TIMER_JOURNEY);
    const rssEmpty = (await server.ask({ cmd: 'memory' }, 'memory')).rss;
    if (ENTRY === 'api') await enterThroughApi(server);
    else {
      await server.stop(true);
      await enterThroughStore(server.journeysDb);
      server = await BenchServer.start(env, profileDir, dataDir);
    }
    const s = await adminCall<Stats>(server.url, 'GET', '/api/journeys/cart-timer/stats');
    await sleep(2000);
    const mem = await server.ask({ cmd: 'memory' }, 'memory');
    const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);
    const db = size(server.journeysDb);
    const wal = size(`${server.journeysDb}-wal`);
    console.log(
      `    with ${fmt(s.waiting)} runs waiting: server resident ${fmt(mem.rss / MiB)} MiB (${fmt(rssEmpty / MiB)} MiB with none; JS heap ${fmt(mem.heapUsed / MiB)} MiB); ` +
        `journey store ${fmt(db / MiB)} MiB + ${fmt(wal / MiB)} MiB WAL (${fmt((db + wal) / RUNS)} bytes per run)`,
    );

    // A day later: every timer is due at once.
    const f = await server.ask({ cmd: 'advance', ms: DAY + 60_000, expect: RUNS }, 'fired');
    const secs = (f.lastAt - f.movedAt) / 1000;
    const rate = f.sends / secs;
    const after = await adminCall<Stats>(server.url, 'GET', '/api/journeys/cart-timer/stats');
    const mem2 = await server.ask({ cmd: 'memory' }, 'memory');
    console.log(
      `    clock moved a day on: ${fmt(f.sends)} timers fired, each run advanced to a committed send, in ${secs.toFixed(1)} s = ` +
        `${fmt(rate)} timers/s (first commit after ${ms(f.firstAt - f.movedAt)}, ${fmt(f.batches)} batches; ${fmt(after.completed)} runs completed, ${fmt(after.waiting)} still waiting; ` +
        `resident ${fmt(mem2.rss / MiB)} MiB)\n    target ≥ 20,000/s: ${rate >= 20_000 ? 'met' : 'NOT met'}`,
    );
    return rate;
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// (c) The same with BullMQ delayed jobs
// ---------------------------------------------------------------------------------------------

async function redisMemory(q: Queue): Promise<number> {
  const client = await q.getBackend().client;
  const info = await client.info();
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

async function bullmq(): Promise<number> {
  const url = new URL(args.redis);
  // BullMQ takes a client instance; ours speaks RESP itself (the project carries no Redis driver).
  const connection = new RespClient({ host: url.hostname, port: Number(url.port || 6379) });
  const name = `concierge-bench-${randomUUID()}`;
  const queue = new Queue(name, { connection });
  try {
    const memBefore = await redisMemory(queue);
    // Short delays, so every job is due by the time the worker starts: they come due together.
    const delay = 1000;
    const t0 = performance.now();
    const chunk = 5000;
    for (let from = 0; from < RUNS; from += chunk) {
      const jobs = [];
      for (let i = from; i < Math.min(RUNS, from + chunk); i++) {
        jobs.push({
          name: 'cart-reminder',
          data: { profileId: `cart-${i}`, journey: 'cart-timer', node: 'remind' },
          opts: { delay, jobId: `cart-${i}`, removeOnComplete: true, removeOnFail: true },
        });
      }
      await queue.addBulk(jobs);
    }
    const added = (performance.now() - t0) / 1000;
    const memAfter = await redisMemory(queue);
    console.log(
      `(c) BullMQ: ${fmt(RUNS)} delayed jobs added with addBulk (5,000 per call) in ${added.toFixed(1)} s (${fmt(RUNS / added)} jobs/s); ` +
        `Redis memory +${fmt((memAfter - memBefore) / MiB)} MiB`,
    );
    await sleep(delay + 500);

    let done = 0;
    let lastAt = 0;
    let finish: () => void = () => {};
    const finished = new Promise<void>((r) => {
      finish = r;
    });
    const started = performance.now();
    const worker = new Worker(
      name,
      async () => {
        // The job's work is left out: only the queue's own cost is measured.
      },
      { connection, concurrency: BULL_CONCURRENCY },
    );
    worker.on('completed', () => {
      done++;
      if (done === RUNS) {
        lastAt = performance.now();
        finish();
      }
    });
    worker.on('failed', (_job, err) => console.error('bullmq job failed', err));
    await finished;
    const secs = (lastAt - started) / 1000;
    await worker.close();
    const rate = RUNS / secs;
    console.log(
      `    one Worker, concurrency ${BULL_CONCURRENCY}, empty processor, removeOnComplete: ${fmt(RUNS)} due jobs completed in ${secs.toFixed(1)} s = ${fmt(rate)} jobs/s`,
    );
    return rate;
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
    await connection.quit();
  }
}

// ---------------------------------------------------------------------------------------------

console.log(
  `Concierge journeys benchmark — embedded SQLite; (a) ${fmt(RATE)} events/s for ${SECONDS} s, ${fmt(USERS)} people; (b) ${fmt(RUNS)} waiting runs`,
);
const profileDir = args.profile ? mkdtempSync(join(tmpdir(), 'concierge-bench-journeys-prof-')) : null;
if (!SKIP.has('latency')) await triggerLatency(profileDir);
let timers = Number.NaN;
if (!SKIP.has('timers')) timers = await waitingRuns(profileDir);
if (!SKIP.has('bullmq')) {
  const jobs = await bullmq();
  if (!Number.isNaN(timers))
    console.log(
      `timers fired by the journey runtime ÷ BullMQ delayed jobs completed: ${fmt(timers)} / ${fmt(jobs)} = ${(timers / jobs).toFixed(2)}`,
    );
}
if (profileDir) console.log(`CPU profiles of the server (.cpuprofile): ${profileDir}`);
