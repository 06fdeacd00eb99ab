/**
 * Segments benchmark, against a `concierge start` process on the embedded SQLite store:
 *
 *   1. a store holding `--profiles` people (1M) and `--events` events (10M) over the last 90 days,
 *      written straight into a fresh database file (a fixture: the history is not indexed for
 *      timelines, which this benchmark does not read);
 *   2. /v1/batch ingestion at full speed with no segments (the baseline), then with 100 segments
 *      and 8 computed traits of a realistic mix, then with none again (a second baseline, which
 *      shows how far the machine's speed moved meanwhile): the cost of segments as a ratio;
 *   3. the full recompute at start (all definitions over the whole log), and of one new segment
 *      on its own, in events scanned per second;
 *   4. the latency from an acknowledged commit to the durable `Segment Entered` / `Exited` events
 *      it causes, at a paced 10,000 events/s;
 *   5. memory: resident size with and without segments, per million profiles.
 *
 *   npm run bench:segments [-- --profiles 1000000 --events 10000000 --seconds 15]
 *   npm run bench:segments -- --keep DIR --only latency   (builds the fixture in DIR once; later runs start from a copy of it)
 *   npm run bench:segments -- --keep DIR --pairs 3 --only baseline,segments   (three pairs, each on a
 *     fresh copy of the fixture, and the median ratio)
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import { DEFAULT_WORKSPACE } from '../src/core/ids.ts';
import { indexPathOf } from '../src/store/sqlite/index-file.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import {
  ADMIN_TOKEN,
  commitTotals,
  fmt,
  type LoadResult,
  load,
  measureCpu,
  median,
  report,
  reportCommits,
  reportCpu,
  startServer,
  type ThreadCpu,
  WRITE_KEY,
} from './lib.ts';
import { COUNTRIES, definitions, PLANS, pickName, properties } from './retail-world.ts';

const { values: args } = parseArgs({
  options: {
    profiles: { type: 'string', default: '1000000' },
    events: { type: 'string', default: '10000000' },
    seconds: { type: 'string', default: '15' },
    connections: { type: 'string', default: '32' },
    rate: { type: 'string', default: '10000' },
    /** Seconds of paced traffic before the latency phase's measured window (a fresh start warms up). */
    warmup: { type: 'string', default: '5' },
    /** Events/s the prepared request bodies of a phase at full speed suffice for. */
    'max-rate': { type: 'string', default: '150000' },
    /** Phases to run, comma-separated: baseline, segments, latency (all by default). */
    only: { type: 'string', default: 'baseline,segments,latency' },
    /**
     * Baseline and segments phases to run in turn, each pair on a fresh copy of the fixture; with
     * more than one, the median ratio is reported, which moves less than one pair's on a shared
     * machine.
     */
    pairs: { type: 'string', default: '1' },
    /** A directory to keep the fixture in once built; later runs start from a copy of it. */
    keep: { type: 'string', default: '' },
    /**
     * Seconds to wait after each copy (or build) of the fixture before the first phase: for
     * minutes after a copy the server ran up to 40 % slower (docs/benchmarks.md).
     */
    settle: { type: 'string', default: '180' },
  },
});
const PHASES = new Set(args.only.split(',').filter(Boolean));
for (const p of PHASES) {
  if (!['baseline', 'segments', 'latency'].includes(p)) {
    throw new Error(`--only: unknown phase '${p}' (baseline, segments, latency)`);
  }
}
const PAIRS = Number(args.pairs);
if (!Number.isInteger(PAIRS) || PAIRS < 1) throw new Error('--pairs must be a whole number, 1 or more');
const PROFILES = Number(args.profiles);
const EVENTS = Number(args.events);
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const RATE = Number(args.rate);
const WARMUP = Number(args.warmup);
if (!(WARMUP >= 0)) throw new Error('--warmup must be a number of seconds, 0 or more');
const SETTLE = Number(args.settle);
if (!(SETTLE >= 0)) throw new Error('--settle must be a number of seconds, 0 or more');
const MAX_RATE = Number(args['max-rate']);
if (!Number.isInteger(MAX_RATE) || MAX_RATE <= 0)
  throw new Error('--max-rate must be a positive whole number');
const DAY = 86_400_000;
/** The fixture's "now"; a kept fixture keeps its own, so its 90 days stay where they were. */
const fixtureFile = args.keep ? join(args.keep, 'fixture.json') : '';
const kept =
  fixtureFile && existsSync(fixtureFile)
    ? (JSON.parse(readFileSync(fixtureFile, 'utf8')) as { profiles: number; events: number; now: number })
    : null;
if (kept && (kept.profiles !== PROFILES || kept.events !== EVENTS)) {
  throw new Error(
    `--keep ${args.keep} holds a fixture of ${kept.profiles} profiles and ${kept.events} events; pass those, or another directory`,
  );
}
const NOW = kept?.now ?? Date.now();
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;

const profileId = (i: number) => `00000000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;

/** Deterministic pseudo-random numbers (mulberry32), so every run builds the same fixture. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the fixture: profiles with traits and a user id each, and their history over 90 days. */
async function buildFixture(path: string): Promise<void> {
  const started = performance.now();
  // The store creates the schema; the rows then go in directly, many per transaction.
  await new SqliteStore({ path }).close();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const ws = DEFAULT_WORKSPACE;
  db.prepare('INSERT OR IGNORE INTO workspaces (id, name, created_at) VALUES (?, ?, ?)').run(
    ws,
    'Default workspace',
    NOW,
  );
  const insProfile = db.prepare(
    'INSERT INTO profiles (id, workspace_id, traits, trait_versions, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const insId = db.prepare(
    "INSERT INTO identifiers (workspace_id, kind, value, profile_id, created_at) VALUES (?, 'user_id', ?, ?, ?)",
  );
  const insEvent = db.prepare(
    `INSERT INTO events (workspace_id, source_id, message_id, profile_id, type, name, ts, received_at, body)
     VALUES (?, 'src_fixture', ?, ?, 'track', ?, ?, ?, ?)`,
  );
  const r = rng(42);
  const chunk = 50_000;
  for (let from = 0; from < PROFILES; from += chunk) {
    db.transaction(() => {
      for (let i = from; i < Math.min(from + chunk, PROFILES); i++) {
        const created = NOW - Math.floor(r() * 700) * DAY;
        const traits = {
          plan: PLANS[Math.floor(r() * 3)],
          country: COUNTRIES[Math.floor(r() * COUNTRIES.length)],
          age: 18 + Math.floor(r() * 60),
          newsletter: r() < 0.4,
          signup_at: new Date(created).toISOString(),
          email: `user-${i}@example.com`,
        };
        const versions = Object.fromEntries(Object.keys(traits).map((k) => [k, [created, `fixture-${i}`]]));
        insProfile.run(profileId(i), ws, JSON.stringify(traits), JSON.stringify(versions), created, created);
        insId.run(ws, `user-${i}`, profileId(i), created);
      }
    })();
  }
  for (let from = 0; from < EVENTS; from += chunk) {
    db.transaction(() => {
      for (let n = from; n < Math.min(from + chunk, EVENTS); n++) {
        const i = Math.floor(r() * PROFILES);
        const name = pickName(r());
        const ts = NOW - Math.floor(r() * 90 * DAY);
        const messageId = `f-${n}`;
        const body = {
          type: 'track',
          event: name,
          userId: `user-${i}`,
          messageId,
          timestamp: new Date(ts).toISOString(),
          properties: properties(name, r),
        };
        insEvent.run(ws, messageId, profileId(i), name, ts, ts, JSON.stringify(body));
      }
    })();
  }
  const max = db.prepare('SELECT max(seq) FROM events').pluck().get() as number;
  // The store keeps its counts as it writes; rows written around it are counted here.
  db.prepare(
    'INSERT INTO counts (workspace_id, events) VALUES (?, ?) ON CONFLICT (workspace_id) DO UPDATE SET events = excluded.events',
  ).run(ws, EVENTS);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const index = new Database(indexPathOf(path));
  index.prepare("UPDATE meta SET value = ? WHERE key = 'indexed_seq'").run(max);
  index.pragma('wal_checkpoint(TRUNCATE)');
  index.close();
  console.log(
    `fixture: ${fmt(PROFILES)} profiles, ${fmt(EVENTS)} events written in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

/** Waits until every file in `dir` is on the disk. */
function syncFiles(dir: string): void {
  for (const name of readdirSync(dir)) {
    const fd = openSync(join(dir, name), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Stores the definitions in the fixture as the server keeps them, so they compute at start. */
function installDefinitions(path: string): void {
  const { segments, computed } = definitions(NOW);
  const at = new Date(NOW).toISOString();
  const wrap = (defs: Record<string, unknown>) =>
    JSON.stringify(
      Object.fromEntries(
        Object.entries(defs).map(([k, d]) => [k, { definition: d, createdAt: at, updatedAt: at }]),
      ),
    );
  putDefinitions(path, [
    { key: 'segments', value: wrap(segments) },
    { key: 'computed_traits', value: wrap(computed) },
  ]);
}

/** Stores definition settings (`segments`, `computed_traits`) as they are written. */
function putDefinitions(path: string, rows: readonly { key: string; value: string }[]): void {
  const db = new Database(path);
  const set = db.prepare('INSERT OR REPLACE INTO settings (workspace_id, key, value) VALUES (?, ?, ?)');
  for (const r of rows) set.run(DEFAULT_WORKSPACE, r.key, r.value);
  db.close();
}

/**
 * Takes the definitions (and any added over the API) out of the store, for a baseline after the
 * phase with segments; returns them, for `putDefinitions`.
 */
function removeDefinitions(path: string): { key: string; value: string }[] {
  const db = new Database(path);
  const where = "workspace_id = ? AND key IN ('segments', 'computed_traits')";
  const rows = db.prepare(`SELECT key, value FROM settings WHERE ${where}`).all(DEFAULT_WORKSPACE) as {
    key: string;
    value: string;
  }[];
  db.prepare(`DELETE FROM settings WHERE ${where}`).run(DEFAULT_WORKSPACE);
  db.close();
  return rows;
}

async function adminGet<T>(url: string, path: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

type Status = {
  segments: {
    profiles: number;
    facts: number;
    timers: number;
    recomputing: unknown;
    lastRecompute: { eventsScanned: number; ms: number; profiles: number } | null;
  };
};

async function metric(url: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const [k, v] = line.split(' ');
    out.set(k!, Number(v));
  }
  return out;
}

/** A summary's p50, p90 and p99 in milliseconds, as one phrase. */
async function quantilesMs(url: string, name: string): Promise<string> {
  const m = await metric(url, name);
  const ms = (k: string) => ((m.get(`${name}{quantile="${k}"}`) ?? Number.NaN) * 1000).toFixed(1);
  return `p50 ${ms('0.5')} ms, p90 ${ms('0.9')} ms, p99 ${ms('0.99')} ms`;
}

/**
 * The server's own resident memory: without the pages of the database file its writer reads
 * through a memory map, which are file cache and would count as the server's otherwise. The whole
 * resident size where the platform gives no split.
 */
const rss = async (url: string) =>
  (await metric(url, 'concierge_process_anonymous_memory_bytes')).values().next().value ??
  (await metric(url, 'concierge_process_resident_memory_bytes')).values().next().value ??
  0;

/** Traffic of existing customers, now: the same mix as the history. */
class LiveTraffic {
  private readonly r = rng(7);
  next(): Record<string, unknown> {
    const i = Math.floor(this.r() * PROFILES);
    if (this.r() < 0.05) {
      return {
        type: 'identify',
        userId: `user-${i}`,
        messageId: randomUUID(),
        traits: { plan: PLANS[Math.floor(this.r() * 3)], newsletter: this.r() < 0.5 },
      };
    }
    const name = pickName(this.r());
    return {
      type: 'track',
      event: name,
      userId: `user-${i}`,
      messageId: randomUUID(),
      properties: properties(name, this.r),
    };
  }
  nextTrack(): Record<string, unknown> {
    return { ...this.next(), type: 'track', event: 'Product Viewed' };
  }
}

/**
 * Sends live traffic at `rate` events/s in batches of 100 for `warmup` then `seconds` seconds, as
 * one stream; calls `atWarm` at the boundary (to read the server's figures there). Returns the
 * measured part's rate.
 */
async function paced(
  url: string,
  rate: number,
  warmup: number,
  seconds: number,
  atWarm: () => void,
  serverPid?: number,
): Promise<number> {
  const pool = new Pool(url, { connections: 16 });
  const traffic = new LiveTraffic();
  const perBatch = 100;
  const interval = (1000 * perBatch) / rate;
  const started = performance.now();
  const warmEnd = started + warmup * 1000;
  let cpuDone: (() => ThreadCpu | undefined) | null = null;
  let measuredFrom = warmEnd;
  const inflight: Promise<void>[] = [];
  let sent = 0;
  for (let k = 0; performance.now() - warmEnd < seconds * 1000; k++) {
    const due = started + k * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (cpuDone === null && performance.now() >= warmEnd) {
      atWarm();
      measuredFrom = performance.now();
      cpuDone = serverPid === undefined ? () => undefined : measureCpu(serverPid);
    }
    const measured = cpuDone !== null;
    const body = JSON.stringify({ batch: Array.from({ length: perBatch }, () => traffic.next()) });
    inflight.push(
      pool
        .request({
          path: '/v1/batch',
          method: 'POST',
          headers: { authorization: AUTH, 'content-type': 'application/json' },
          body,
        })
        .then(async (res) => {
          await res.body.text();
          if (res.statusCode === 200 && measured) sent += perBatch;
        }),
    );
  }
  await Promise.all(inflight);
  await pool.close();
  const cpu = cpuDone?.();
  const rateMeasured = sent / ((performance.now() - measuredFrom) / 1000);
  if (cpu) reportCpu(cpu, rateMeasured);
  return rateMeasured;
}

/** A histogram's cumulative bucket counts, by upper bound in seconds (+Inf last). */
async function buckets(url: string, name: string): Promise<[number, number][]> {
  const m = await metric(url, `${name}_bucket`);
  return [...m]
    .map(([k, v]): [number, number] => {
      const le = /le="([^"]+)"/.exec(k)?.[1] ?? '+Inf';
      return [le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), v];
    })
    .sort((a, b) => a[0] - b[0]);
}

/**
 * Quantiles of what a histogram counted between two readings, interpolated within buckets (as
 * Prometheus's histogram_quantile does), and the share over `over` seconds.
 */
function windowQuantiles(
  before: [number, number][],
  after: [number, number][],
  over: number,
): { quantiles: string; over: string; count: number } {
  const was = new Map(before);
  const counts = after.map(([le, c]): [number, number] => [le, c - (was.get(le) ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  const q = (p: number) => {
    const rank = p * total;
    let lower = 0;
    let below = 0;
    for (const [le, c] of counts) {
      if (c >= rank) {
        if (!Number.isFinite(le)) return `> ${(lower * 1000).toFixed(0)}`;
        return ((lower + ((le - lower) * (rank - below)) / Math.max(1, c - below)) * 1000).toFixed(1);
      }
      lower = le;
      below = c;
    }
    return 'n/a';
  };
  const within = counts.find(([le]) => le >= over)?.[1] ?? total;
  const share = total === 0 ? 0 : ((total - within) / total) * 100;
  return {
    quantiles: `p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms`,
    over: `${share.toFixed(2)} % over ${over * 1000} ms`,
    count: total,
  };
}

async function waitForSegments(url: string): Promise<Status['segments']> {
  // Polls a segment's status (cheap), then reads the engine's figures once.
  for (;;) {
    const s = await adminGet<{ status: string }>(url, '/api/segments/vip');
    if (s.status === 'ready') break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return (await adminGet<Status>(url, '/api/status')).segments;
}

// ---------------------------------------------------------------------------------------------

console.log(
  `Concierge segments benchmark — ${fmt(PROFILES)} profiles, ${fmt(EVENTS)} events in the log, ${CONNECTIONS} connections, embedded SQLite` +
    (PAIRS > 1 ? `, ${PAIRS} pairs of phases` : ''),
);
const dir = mkdtempSync(join(tmpdir(), 'concierge-bench-segments-'));
const dataDir = join(dir, 'data');
const dbPath = join(dataDir, 'concierge.db');
const loadOptions = {
  path: '/v1/batch',
  perRequest: 100,
  connections: CONNECTIONS,
  maxRate: MAX_RATE,
  users: PROFILES,
};

/** The server's CPU per event during a load, µs (all its threads; NaN without a reading). */
const serverUs = (r: LoadResult) =>
  r.cpu === undefined ? Number.NaN : ((r.cpu.total - r.cpu.loadGenerator) * 10_000) / (r.events / r.seconds);

/**
 * Ingestion at full speed with no segments: events/s, the server's resident size after, and its
 * CPU per event.
 */
async function baselinePhase(label: string): Promise<{ off: number; rssOff: number; cpuOff: number }> {
  const server = await startServer({}, dataDir);
  try {
    await load(server.url, { ...loadOptions, seconds: 2, factory: new LiveTraffic() });
    const before = await commitTotals(server.url);
    const r = await load(server.url, {
      ...loadOptions,
      seconds: SECONDS,
      factory: new LiveTraffic(),
      serverPid: server.child.pid,
    });
    report(`${label}: POST /v1/batch`, r, 'events');
    reportCommits(before, await commitTotals(server.url));
    return { off: r.events / r.seconds, rssOff: await rss(server.url), cpuOff: serverUs(r) };
  } finally {
    await server.stop();
  }
}

/**
 * The start-up recompute, memory, (with `first`) one new segment's recompute, then ingestion at
 * full speed with the definitions installed: events/s and the server's CPU per event.
 */
async function segmentsPhase(first: boolean, rssOff: number): Promise<{ on: number; cpuOn: number }> {
  const t0 = performance.now();
  const server = await startServer({}, dataDir);
  try {
    const s = await waitForSegments(server.url);
    const rc = s.lastRecompute!;
    console.log(
      `start-up recompute of 100 segments + 8 computed traits: ${fmt(rc.eventsScanned)} events scanned, ${fmt(rc.profiles)} profiles, ` +
        `${(rc.ms / 1000).toFixed(1)} s = ${fmt(rc.eventsScanned / (rc.ms / 1000))} events/s (server ready to ingest after ${((performance.now() - t0) / 1000).toFixed(1)} s … ingestion was open throughout)`,
    );
    const rssOn = await rss(server.url);
    // Without the baseline phase there is nothing to compare with.
    const segmentState = Number.isNaN(rssOff)
      ? ''
      : ` vs ${fmt(rssOff / 2 ** 20)} MiB without; ${fmt((rssOn - rssOff) / 2 ** 20 / (PROFILES / 1e6))} MiB per million profiles for segment state`;
    console.log(
      `memory: ${fmt(rssOn / 2 ** 20)} MiB resident (the server's own, without mapped files) with segments${segmentState} (${fmt(s.facts)} facts kept, ${fmt(s.timers)} timers pending)`,
    );

    if (first) {
      // One new segment on its own: scans only its event name.
      const t1 = performance.now();
      const res = await fetch(`${server.url}/api/segments/bench-new?wait=600`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        // A property no definition read before: the segment's event name is scanned again.
        body: JSON.stringify({
          event: 'Review Submitted',
          where: [{ property: 'rating', op: 'gte', value: 4 }],
          within: '60d',
        }),
      });
      const created = (await res.json()) as { size: number; status: string };
      const one = (await adminGet<Status>(server.url, '/api/status')).segments.lastRecompute!;
      console.log(
        `recompute of one new segment: ${fmt(one.eventsScanned)} events of its name scanned out of ${fmt(EVENTS)}, ${(one.ms / 1000).toFixed(1)} s ` +
          `(${fmt(EVENTS / (one.ms / 1000))} log events/s), size ${fmt(created.size)}, PUT answered in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
      );
    }

    await load(server.url, { ...loadOptions, seconds: 2, factory: new LiveTraffic() });
    const before = await commitTotals(server.url);
    const changesBefore = await metric(server.url, 'concierge_segment_changes_total');
    const r = await load(server.url, {
      ...loadOptions,
      seconds: SECONDS,
      factory: new LiveTraffic(),
      serverPid: server.child.pid,
    });
    // The engine's calls are answered in order, so a segment's size comes back once it has applied
    // every commit acknowledged before: how far behind ingestion it ran when the load stopped.
    const t2 = performance.now();
    await adminGet(server.url, '/api/segments/vip');
    const behind = performance.now() - t2;
    report('segments on: POST /v1/batch', r, 'events');
    reportCommits(before, await commitTotals(server.url));
    const changesAfter = await metric(server.url, 'concierge_segment_changes_total');
    const changes = [...changesAfter].reduce((n, [k, v]) => n + v - (changesBefore.get(k) ?? 0), 0);
    console.log(
      `  the engine had applied every acknowledged commit ${fmt(behind)} ms after the load stopped; ` +
        `${fmt(changes)} membership changes announced since the load started (${(changes / r.events).toFixed(2)} per event)`,
    );
    return { on: r.events / r.seconds, cpuOn: serverUs(r) };
  } finally {
    await server.stop();
  }
}

try {
  /** A copy of the fixture as built, for the pairs after the first (a kept fixture is its own). */
  const pristine = kept ? join(args.keep, 'data') : join(dir, 'pristine');
  if (kept) {
    // Every run starts from the fixture as it was built, not as an earlier run left it.
    cpSync(pristine, dataDir, { recursive: true });
    console.log(`fixture: copied from ${args.keep}`);
  } else {
    mkdirSync(dataDir, { recursive: true });
    await buildFixture(dbPath);
    if (fixtureFile) {
      cpSync(dataDir, join(args.keep, 'data'), { recursive: true });
      writeFileSync(fixtureFile, JSON.stringify({ profiles: PROFILES, events: EVENTS, now: NOW }));
    }
    if (PAIRS > 1) cpSync(dataDir, pristine, { recursive: true });
  }

  /**
   * Per pair: events/s without and with segments, the server's CPU per event in each, and events/s
   * without segments again after the phase with them.
   */
  const pairs: [number, number, number, number, number][] = [];
  for (let k = 1; k <= PAIRS; k++) {
    if (k > 1) {
      rmSync(dataDir, { recursive: true, force: true });
      cpSync(pristine, dataDir, { recursive: true });
      console.log(`\npair ${k} of ${PAIRS}: fixture copied afresh`);
    }
    // The fixture is written without waiting for the disk: its pages go out now, not during a
    // measurement (the kernel writes dirty pages back some 30 s later).
    syncFiles(dataDir);
    // Three baselines in a row on one copy, no segments anywhere, read 30,422, then 38,222, then
    // (after 180 s) 50,593 events/s, with the server's CPU per event falling from 49.5 to 28.7 µs:
    // the machine is slower for minutes after the gigabytes of a copy. Unsettled, the first
    // baseline reads low and the cost of segments with it.
    if (SETTLE > 0) {
      console.log(`waiting ${SETTLE} s for the machine to settle after writing the fixture (--settle)`);
      await new Promise((resolve) => setTimeout(resolve, SETTLE * 1000));
    }

    // Baseline: no segments.
    let off = Number.NaN;
    let rssOff = Number.NaN;
    let cpuOff = Number.NaN;
    if (PHASES.has('baseline')) ({ off, rssOff, cpuOff } = await baselinePhase('segments off'));

    installDefinitions(dbPath);
    if (PHASES.has('segments')) {
      const { on, cpuOn } = await segmentsPhase(k === 1, rssOff);
      if (!Number.isNaN(off)) {
        // The machine's speed drifts over the minutes between the phases (the start-up recompute
        // runs between them): a second baseline after the phase with segments, on the same store
        // with the definitions taken out, brackets it. Its store holds one more phase of traffic.
        const defs = removeDefinitions(dbPath);
        const after = (await baselinePhase('segments off again, after')).off;
        putDefinitions(dbPath, defs);
        pairs.push([off, on, cpuOff, cpuOn, after]);
        const mean = (off + after) / 2;
        console.log(
          `throughput with 101 segments / without: ${(on / off).toFixed(2)} (cost ${((1 - on / off) * 100).toFixed(0)} %); ` +
            `against the baseline after, ${(on / after).toFixed(2)} (${((1 - on / after) * 100).toFixed(0)} %); ` +
            `against the mean of both, ${(on / mean).toFixed(2)} (${((1 - on / mean) * 100).toFixed(0)} %); ` +
            `the server's CPU per event ${fmt(cpuOff, 1)} → ${fmt(cpuOn, 1)} µs`,
        );
      }
    }
  }
  if (pairs.length > 1) {
    const ratios = pairs.map(([off, on]) => on / off);
    const m = median(ratios);
    console.log(
      `\n${pairs.length} pairs, without → with → without again (events/s): ${pairs.map(([off, on, , , after]) => `${fmt(off)} → ${fmt(on)} (${((1 - on / off) * 100).toFixed(0)} %) → ${fmt(after)}`).join(', ')}`,
    );
    console.log(
      `median throughput with 101 segments / without: ${m.toFixed(2)} (cost ${((1 - m) * 100).toFixed(0)} %); ` +
        `median without ${fmt(median(pairs.map((p) => p[0])))}, with ${fmt(median(pairs.map((p) => p[1])))} events/s`,
    );
    const bracketed = median(pairs.map(([off, on, , , after]) => on / ((off + after) / 2)));
    console.log(
      `against the mean of the baselines before and after: median ${bracketed.toFixed(2)} (cost ${((1 - bracketed) * 100).toFixed(0)} %); ` +
        `median without, after: ${fmt(median(pairs.map((p) => p[4])))} events/s`,
    );
    // A second view of the cost: the CPU segments add to each event, whatever the closed loop of
    // connections makes of it in throughput.
    console.log(
      `the server's CPU per event, median of the pairs: without ${fmt(median(pairs.map((p) => p[2])), 1)} µs, ` +
        `with ${fmt(median(pairs.map((p) => p[3])), 1)} µs; CPU without / with, median: ${median(pairs.map((p) => p[2] / p[3])).toFixed(2)}`,
    );
  }

  // Latency at a paced rate, on a fresh process so the summary holds only this run.
  if (PHASES.has('latency')) {
    const server = await startServer({}, dataDir);
    try {
      await waitForSegments(server.url);
      const before = await metric(server.url, 'concierge_segment_changes_total');
      // The measured window starts after the warm-up: its readings of the histograms, taken at the
      // boundary, are subtracted from those at the end.
      let atWarm: Promise<[[number, number][], [number, number][]]> = Promise.resolve([[], []]);
      const achieved = await paced(
        server.url,
        RATE,
        WARMUP,
        SECONDS,
        () => {
          atWarm = Promise.all([
            buckets(server.url, 'concierge_segment_announcement_seconds'),
            buckets(server.url, 'concierge_commit_seconds'),
          ]);
        },
        server.child.pid,
      );
      await new Promise((r) => setTimeout(r, 1000));
      const [announceWarm, commitsWarm] = await atWarm;
      const windowed = windowQuantiles(
        announceWarm,
        await buckets(server.url, 'concierge_segment_announcement_seconds'),
        0.05,
      );
      const commitsWindow = windowQuantiles(
        commitsWarm,
        await buckets(server.url, 'concierge_commit_seconds'),
        0.05,
      );
      const whole = await quantilesMs(server.url, 'concierge_segment_announce_seconds');
      const evaluate = await quantilesMs(server.url, 'concierge_segment_evaluate_seconds');
      const store = await quantilesMs(server.url, 'concierge_segment_store_seconds');
      const after = await metric(server.url, 'concierge_segment_changes_total');
      const changes = [...after].reduce((s, [k, v]) => s + v - (before.get(k) ?? 0), 0);
      const commits = await metric(server.url, 'concierge_commit_seconds_bucket');
      const total = commits.get('concierge_commit_seconds_bucket{le="+Inf"}') ?? 0;
      const slow = total - (commits.get('concierge_commit_seconds_bucket{le="0.05"}') ?? 0);
      console.log(
        `acknowledged commit → Segment Entered/Exited committed, at ${fmt(achieved)} events/s, the ${SECONDS} s after ${WARMUP} s of warm-up: ` +
          `${windowed.quantiles}; ${windowed.over} (${fmt(windowed.count)} announcing commits; ${commitsWindow.over} of its ${fmt(commitsWindow.count)} commits)`,
      );
      console.log(
        `  since the start, warm-up included: ${whole} (${fmt(changes)} membership changes announced; ${fmt(slow)} of ${fmt(total)} commits took over 50 ms)`,
      );
      console.log(
        `  of which until the engine answered: ${evaluate}; from its answer to the commit: ${store}`,
      );
    } finally {
      await server.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
