import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789';
export const WRITE_KEY = 'wk_bench_0123456789';
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface Server {
  readonly url: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `concierge start` as its own process, as a user would, and waits for /healthz. */
export async function startServer(
  extraEnv: Record<string, string> = {},
  dataDir?: string,
  nodeArgs: readonly string[] = [],
): Promise<Server> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'concierge-bench-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server.
    [
      ...nodeArgs,
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      'bin/concierge.mjs',
      'start',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--data',
      dir,
    ],
    {
      env: {
        ...process.env,
        CONCIERGE_ADMIN_TOKEN: ADMIN_TOKEN,
        CONCIERGE_WRITE_KEY: WRITE_KEY,
        LOG_LEVEL: 'warn',
        ...extraEnv,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir: dir,
    child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/**
 * Synthetic retail events in Segment's shape: a mix of page, track (e-commerce spec) and identify
 * calls over `users` people, a third of them still anonymous. Cheap to make, so the load generator
 * does not compete with the server for the CPU.
 */
export class EventFactory {
  private n = 0;
  constructor(private readonly users: number) {}

  /** The next event, made a track call (for the single-event /v1/track endpoint). */
  nextTrack(): Record<string, unknown> {
    const m = this.next();
    if (m.type === 'track') return m;
    return {
      ...m,
      type: 'track',
      event: 'Product Viewed',
      properties: { product_id: 'sku-1', price: 19.99 },
      traits: undefined,
      name: undefined,
    };
  }

  next(): Record<string, unknown> {
    const i = this.n++;
    const u = (i * 2654435761) % this.users;
    const known = u % 3 !== 0;
    const ids = known ? { userId: `user-${u}`, anonymousId: `anon-${u}` } : { anonymousId: `anon-${u}` };
    const messageId = randomUUID();
    const timestamp = new Date(Date.UTC(2026, 9, 1) + i * 37).toISOString();
    const context = {
      ip: '203.0.113.7',
      library: { name: 'analytics-node', version: '3.1.0' },
      timezone: 'Europe/Berlin',
    };
    switch (i % 10) {
      case 0:
        return {
          type: 'identify',
          messageId,
          timestamp,
          context,
          ...ids,
          traits: { email: `user-${u}@example.com`, plan: u % 2 ? 'pro' : 'free', city: 'Berlin' },
        };
      case 1:
      case 2:
      case 3:
        return {
          type: 'page',
          messageId,
          timestamp,
          context,
          ...ids,
          name: 'Product',
          properties: { path: `/p/${u % 500}`, referrer: 'https://search.example/' },
        };
      case 9:
        return {
          type: 'track',
          messageId,
          timestamp,
          context,
          ...ids,
          event: 'Order Completed',
          properties: {
            order_id: `o-${i}`,
            revenue: (u % 97) + 0.99,
            currency: 'EUR',
            products: [{ product_id: `sku-${u % 500}`, price: 19.99, quantity: 1 }],
          },
        };
      default:
        return {
          type: 'track',
          messageId,
          timestamp,
          context,
          ...ids,
          event: 'Product Viewed',
          properties: { product_id: `sku-${u % 500}`, price: 19.99, category: 'Running' },
        };
    }
  }
}

export interface LoadResult {
  events: number;
  requests: number;
  seconds: number;
  latencies: number[];
  errors: number;
  /** CPU per thread during the load, when the server's process id was given (Linux only). */
  cpu?: ThreadCpu | undefined;
}

export interface LoadOptions {
  readonly path: string;
  readonly perRequest: number;
  readonly seconds: number;
  readonly connections: number;
  /** Events per second the prepared request bodies can sustain for the whole run. */
  readonly maxRate: number;
  readonly users: number;
  /** Makes the events (default: `EventFactory` over `users` people). */
  readonly factory?: { next(): Record<string, unknown>; nextTrack(): Record<string, unknown> };
  /** The server's process id: its threads' CPU during the load is then reported. */
  readonly serverPid?: number | undefined;
}

/** Cores used during a load: the server's threads (its main thread first), and this process. */
export interface ThreadCpu {
  readonly serverMain: number;
  /** The server's threads that name themselves (writer, index, checkpoints, segment engine), by name. */
  readonly serverNamed: [name: string, pct: number][];
  /** Its other threads (V8's and libuv's helpers), busiest first (threads under 2 % of a core left out). */
  readonly serverOthers: number[];
  readonly loadGenerator: number;
  readonly total: number;
}

/** Each thread's CPU time so far, in clock ticks, from /proc (empty where there is none). */
function threadTicks(pid: number): Map<string, number> {
  const ticks = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return ticks;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(tid, Number(fields[11]) + Number(fields[12]));
    } catch {}
  }
  return ticks;
}

/** A thread's name as the kernel keeps it (`node` unless the thread named itself). */
function threadName(pid: number, tid: string): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return 'node';
  }
}

/** Starts measuring the server's and this process's threads; the returned function ends it. */
export function measureCpu(serverPid: number): () => ThreadCpu | undefined {
  const t0 = performance.now();
  const server0 = threadTicks(serverPid);
  const self0 = threadTicks(process.pid);
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const server1 = threadTicks(serverPid);
    const self1 = threadTicks(process.pid);
    if (server1.size === 0) return undefined;
    // Clock ticks are 1/100 s on Linux.
    const pct = (a: Map<string, number>, b: Map<string, number>, tid: string) =>
      ((b.get(tid) ?? 0) - (a.get(tid) ?? 0)) / seconds;
    const serverMain = pct(server0, server1, String(serverPid));
    const named: [string, number][] = [];
    const others: number[] = [];
    for (const t of server1.keys()) {
      if (t === String(serverPid)) continue;
      const name = threadName(serverPid, t);
      if (name === 'node') others.push(pct(server0, server1, t));
      else named.push([name, pct(server0, server1, t)]);
    }
    others.sort((a, b) => b - a);
    named.sort((a, b) => b[1] - a[1]);
    const loadGenerator = [...self1.keys()].reduce((sum, t) => sum + pct(self0, self1, t), 0);
    return {
      serverMain,
      serverNamed: named,
      serverOthers: others.filter((p) => p >= 2),
      loadGenerator,
      total:
        serverMain + named.reduce((a, [, p]) => a + p, 0) + others.reduce((a, b) => a + b, 0) + loadGenerator,
    };
  };
}

/** Keeps `connections` requests in flight for `seconds`, each carrying `perRequest` events. */
export async function load(url: string, o: LoadOptions): Promise<LoadResult> {
  const { path, perRequest, seconds } = o;
  const CONNECTIONS = o.connections;
  const MAX_RATE = o.maxRate;
  const pool = new Pool(url, { connections: CONNECTIONS, pipelining: 1 });
  const factory = o.factory ?? new EventFactory(o.users);
  // Bodies are made before the clock starts (each event unique), so the load generator spends
  // the shared CPU on sending, as a dedicated load tool would, not on building JSON.
  const bodies: Buffer[] = [];
  const perBody = perRequest === 1 ? 1 : perRequest;
  // Single-event requests cost far more per event, so a quarter of the rate is plenty.
  const needed = Math.ceil(((perRequest === 1 ? MAX_RATE / 4 : MAX_RATE) * seconds) / perBody);
  for (let i = 0; i < needed; i++) {
    bodies.push(
      Buffer.from(
        perRequest === 1
          ? JSON.stringify(factory.nextTrack())
          : JSON.stringify({ batch: Array.from({ length: perRequest }, () => factory.next()) }),
      ),
    );
  }
  let next = 0;
  const latencies: number[] = [];
  let events = 0;
  let requests = 0;
  let errors = 0;
  const cpuDone = o.serverPid === undefined ? () => undefined : measureCpu(o.serverPid);
  const started = performance.now();
  const until = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < until) {
      const body = bodies[next++];
      if (body === undefined)
        throw new Error(`ran out of prepared bodies; raise --max-rate above ${MAX_RATE}`);
      const t0 = performance.now();
      const res = await pool.request({
        path,
        method: 'POST',
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        body,
      });
      await res.body.text();
      const dt = performance.now() - t0;
      if (res.statusCode === 200) {
        latencies.push(dt);
        events += perRequest;
        requests++;
      } else errors++;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuDone();
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { events, requests, seconds: elapsed, latencies, errors, cpu };
}

/** The server's group commits so far, from its Prometheus metrics. */
export async function commitTotals(url: string): Promise<{ count: number; events: number; seconds: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    if (line === undefined) throw new Error(`/metrics has no ${name}`);
    return Number(line.slice(name.length + 1));
  };
  return {
    count: value('concierge_commit_events_count'),
    events: value('concierge_commit_events_sum'),
    seconds: value('concierge_commit_seconds_sum'),
  };
}

/** The group commits between two `commitTotals` readings: how many, how big, how long. */
export function reportCommits(
  before: Awaited<ReturnType<typeof commitTotals>>,
  after: Awaited<ReturnType<typeof commitTotals>>,
): void {
  const commits = after.count - before.count;
  console.log(
    `  group commits: ${fmt(commits)}, ${fmt((after.events - before.events) / commits)} events and ${fmt(
      ((after.seconds - before.seconds) / commits) * 1000,
      1,
    )} ms each on average (from arrival at the writer's queue to the answer)`,
  );
}

export function report(label: string, r: LoadResult, unit: string) {
  console.log(
    `${label}: ${fmt(r.events / r.seconds)} ${unit}/s over ${r.seconds.toFixed(1)} s (${fmt(r.requests)} requests, ${r.errors} errors); ` +
      `ack latency p50 ${fmt(percentile(r.latencies, 50), 1)} ms, p99 ${fmt(percentile(r.latencies, 99), 1)} ms, max ${fmt(r.latencies.at(-1) ?? 0, 1)} ms`,
  );
  if (r.cpu) reportCpu(r.cpu, r.events / r.seconds);
}

/**
 * Prints each thread's share of a core during a load (see `measureCpu`), and with the load's rate
 * the server's CPU time per event: comparing two phases, it says which thread the added work fell on.
 */
export function reportCpu(c: ThreadCpu, eventsPerSecond?: number) {
  const named = c.serverNamed.map(([name, p]) => `${name} ${fmt(p)}`).join(', ');
  console.log(
    `  CPU during the load, % of a core: server main thread ${fmt(c.serverMain)}, ${named ? `${named}, ` : ''}its other threads ${c.serverOthers
      .map((p) => fmt(p))
      .join(
        ' / ',
      )}; load generator ${fmt(c.loadGenerator)}; total ${fmt(c.total)} of ${availableParallelism() * 100}`,
  );
  if (eventsPerSecond === undefined || eventsPerSecond <= 0) return;
  // % of a core is 10,000 µs per second.
  const us = (p: number) => fmt((p * 10_000) / eventsPerSecond, 1);
  const server = c.total - c.loadGenerator;
  console.log(
    `  server CPU per event: ${us(server)} µs (main thread ${us(c.serverMain)}${c.serverNamed
      .map(([name, p]) => `, ${name} ${us(p)}`)
      .join('')}, other threads ${us(server - c.serverMain - c.serverNamed.reduce((a, [, p]) => a + p, 0))})`,
  );
}
