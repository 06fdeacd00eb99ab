/**
 * Journeys survive SIGKILL: the real server process runs thousands of journeys whose timers fire
 * while events keep arriving, is killed mid-way, and restarts on the same data directory. Checked
 * afterwards only through the public HTTP API:
 *
 * - no run is lost: every triggered profile has exactly one run of the journey, completed;
 * - no timer is lost: nothing stays waiting past its due time;
 * - no effect is performed twice (or lost): each `update` node incremented the profile's counter
 *   exactly once, each run queued exactly one outbox row per update node, each row is `sent`, and
 *   each row's trait update is on the profile's timeline exactly once.
 *
 * The journey is trigger → wait 1 s → +1 → wait 1 s → +1, on the real clock of the process.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { VirtualClock } from '../../src/core/clock.ts';
import {
  admin,
  findProfile,
  type JsonResponse,
  postTracking,
  type ServerProcess,
  spawnServer,
  startApp,
  tempDir,
  timeline,
} from '../helpers/server.ts';

const PROFILES = 2000;
const PER_REQUEST = 50;
const JOURNEY = 'crash-steps';
const UPDATE_NODES = ['first-step', 'second-step'] as const;
/** Generous: a loaded two-core machine restarting a server and firing thousands of timers. */
const SETTLE_MS = 180_000;

const run = Math.random().toString(36).slice(2, 8);
const userId = (i: number) => `crash-${run}-${i}`;

const definition = {
  name: 'Crash safety',
  trigger: { event: 'Crash Started' },
  start: 'pause-1',
  nodes: {
    'pause-1': { type: 'wait', duration: '1s', next: 'first-step' },
    'first-step': { type: 'update', increment: { journey_steps: 1 }, next: 'pause-2' },
    'pause-2': { type: 'wait', duration: '1s', next: 'second-step' },
    'second-step': { type: 'update', increment: { journey_steps: 1 }, next: null },
  },
};

interface TriggerRequest {
  readonly n: number;
  readonly body: { batch: Record<string, unknown>[] };
}

/** The trigger events for profiles [n·PER_REQUEST, (n+1)·PER_REQUEST), with stable messageIds. */
function triggerRequest(n: number): TriggerRequest {
  const batch: Record<string, unknown>[] = [];
  for (let i = n * PER_REQUEST; i < Math.min(PROFILES, (n + 1) * PER_REQUEST); i++) {
    batch.push({
      type: 'track',
      userId: userId(i),
      event: 'Crash Started',
      messageId: `${run}-start-${i}`,
      properties: { i },
      timestamp: new Date().toISOString(),
    });
  }
  return { n, body: { batch } };
}

/** Other traffic for the same people, which the journey does not listen to. */
function noiseRequest(k: number): { batch: Record<string, unknown>[] } {
  const batch: Record<string, unknown>[] = [];
  for (let j = 0; j < 20; j++) {
    const i = (k * 37 + j * 101) % PROFILES;
    batch.push({
      type: 'track',
      userId: userId(i),
      event: 'Product Viewed',
      messageId: `${run}-noise-${k}-${j}`,
      properties: { sku: `sku-${j}` },
    });
  }
  return { batch };
}

interface Stats {
  entered: number;
  completed: number;
  waiting: number;
  exited: Record<string, number>;
  notEntered: Record<string, number>;
  nodes: Record<string, Record<string, number>>;
}

interface RunBody {
  id: string;
  journey: string;
  status: string;
  node: string | null;
  wakeAt: string | null;
  reason: string | null;
  outbox: { id: string; kind: string; status: string; attempts: number; payload: { node?: string } }[];
}

async function ok<T>(r: Promise<JsonResponse<T>>, what: string): Promise<T> {
  const res = await r;
  if (res.status !== 200) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `width` calls in flight. */
async function pool<T, R>(items: readonly T[], width: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

/** What is wrong with one profile, or null when everything about it is as it must be. */
async function problemsOf(url: string, i: number): Promise<string | null> {
  const p = await findProfile(url, 'userId', userId(i));
  if (p === null) return 'no profile';
  const runs = (
    await ok(admin<{ runs: RunBody[] }>(url, 'GET', `/api/profiles/${encodeURIComponent(p.id)}/runs`), 'runs')
  ).runs.filter((r) => r.journey === JOURNEY);
  if (runs.length !== 1) return `${runs.length} runs`;
  const r = await ok(admin<RunBody>(url, 'GET', `/api/runs/${encodeURIComponent(runs[0]!.id)}`), 'run');
  if (r.status !== 'completed') return `run ${r.id} is ${r.status} at ${r.node} (wakes ${r.wakeAt})`;
  const nodes = r.outbox.map((o) => o.payload.node ?? '?').sort();
  if (JSON.stringify(nodes) !== JSON.stringify([...UPDATE_NODES]))
    return `run ${r.id} queued ${JSON.stringify(nodes)}`;
  const unsent = r.outbox.filter((o) => o.kind !== 'update' || o.status !== 'sent');
  if (unsent.length > 0)
    return `outbox rows not sent: ${JSON.stringify(unsent.map((o) => [o.id, o.status]))}`;
  const applied = (await timeline(url, p.id)).filter(
    (e) => e.type === 'identify' && e.messageId.startsWith('journey:'),
  );
  for (const o of r.outbox) {
    const n = applied.filter((e) => e.messageId === `journey:${o.id}`).length;
    if (n !== 1) return `outbox row ${o.id} is on the timeline ${n} times`;
  }
  if (applied.length !== UPDATE_NODES.length)
    return `${applied.length} journey trait updates on the timeline`;
  if (p.traits.journey_steps !== UPDATE_NODES.length)
    return `journey_steps is ${JSON.stringify(p.traits.journey_steps)}, not ${UPDATE_NODES.length}`;
  return null;
}

describe('journeys under SIGKILL', () => {
  const dataDir = tempDir('concierge-journey-crash-');
  let server: ServerProcess | null = null;
  after(async () => {
    await server?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses no run and no timer, and performs no step twice, across a SIGKILL while timers fire', {
    timeout: 600_000,
  }, async (t) => {
    server = await spawnServer(dataDir, 60_000);
    const first = server;
    const put = await admin(first.url, 'PUT', `/api/journeys/${JOURNEY}?publish=true`, definition);
    assert.equal(put.status, 201, JSON.stringify(put.body));

    const requests = Array.from({ length: Math.ceil(PROFILES / PER_REQUEST) }, (_, n) => triggerRequest(n));
    const acked = new Set<number>();
    let killed: Promise<void> | null = null;
    let firedBeforeKill = 0;
    let noiseAcked = 0;
    const kill = () => {
      killed ??= first.kill('SIGKILL');
      return killed;
    };

    // Triggers arrive over several seconds, so the first waits end while later people enter.
    const triggers = (async () => {
      for (const req of requests) {
        if (killed !== null) return;
        try {
          const r = await postTracking(first.url, '/v1/batch', req.body, {
            signal: AbortSignal.timeout(30_000),
          });
          if (r.status !== 200)
            throw new Error(`trigger batch ${req.n}: ${r.status} ${JSON.stringify(r.body)}`);
          acked.add(req.n);
        } catch (err) {
          if (killed === null) throw err;
          return;
        }
        await sleep(100);
      }
    })();
    const noise = (async () => {
      for (let k = 0; killed === null; k++) {
        try {
          const r = await postTracking(first.url, '/v1/batch', noiseRequest(k), {
            signal: AbortSignal.timeout(30_000),
          });
          if (r.status !== 200) throw new Error(`noise batch ${k}: ${r.status}`);
          noiseAcked++;
        } catch (err) {
          if (killed === null) throw err;
          return;
        }
      }
    })();
    // Kill once timers have fired and trait updates were queued, with people still entering.
    const monitor = (async () => {
      const deadline = Date.now() + SETTLE_MS;
      while (killed === null) {
        if (Date.now() > deadline) throw new Error(`timers never fired: ${first.stderr()}`);
        try {
          const s = await ok(admin<Stats>(first.url, 'GET', `/api/journeys/${JOURNEY}/stats`), 'stats');
          const passed = s.nodes['first-step']?.passed ?? 0;
          if (passed >= 100 && acked.size >= requests.length * 0.4 && acked.size < requests.length) {
            firedBeforeKill = passed;
            await kill();
            return;
          }
          if (acked.size === requests.length)
            throw new Error('every trigger was acknowledged before the kill');
        } catch (err) {
          if (killed === null) throw err;
        }
        await sleep(50);
      }
    })();
    await Promise.all([triggers, noise, monitor]);
    await killed;
    assert.equal(first.child.signalCode, 'SIGKILL');
    t.diagnostic(
      `killed with ${acked.size}/${requests.length} trigger batches and ${noiseAcked} other batches acknowledged, ` +
        `${firedBeforeKill} first steps done`,
    );

    // Restart on the same data; send every trigger batch again (acknowledged ones are duplicates the
    // log drops), with other traffic flowing, while the timers that fell due during the outage fire.
    server = await spawnServer(dataDir, 60_000);
    const second = server;
    let stop = false;
    const noiseAgain = (async () => {
      for (let k = 100_000; !stop; k++) {
        const r = await postTracking(second.url, '/v1/batch', noiseRequest(k), {
          signal: AbortSignal.timeout(30_000),
        });
        assert.equal(r.status, 200, `noise after restart: ${JSON.stringify(r.body)}`);
        await sleep(20);
      }
    })();
    try {
      await pool(requests, 4, async (req) => {
        const r = await postTracking(second.url, '/v1/batch', req.body, {
          signal: AbortSignal.timeout(30_000),
        });
        assert.equal(r.status, 200, `trigger batch ${req.n} again: ${JSON.stringify(r.body)}`);
      });
    } finally {
      stop = true;
      await noiseAgain;
    }

    // Wait until every run has ended and the outbox is empty.
    const deadline = Date.now() + SETTLE_MS;
    let stats: Stats;
    for (;;) {
      stats = await ok(admin<Stats>(second.url, 'GET', `/api/journeys/${JOURNEY}/stats`), 'stats');
      const st = await ok(
        admin<{ journeys?: { live: number; outboxPending: number } }>(second.url, 'GET', '/api/status'),
        'status',
      );
      if (stats.completed >= PROFILES && st.journeys?.live === 0 && st.journeys.outboxPending === 0) break;
      if (Date.now() > deadline)
        assert.fail(`not settled: stats ${JSON.stringify(stats)}, status ${JSON.stringify(st.journeys)}`);
      await sleep(250);
    }

    // Counters: everyone entered once and completed once; nobody waits, nobody exited.
    assert.equal(stats.entered, PROFILES, 'entered');
    assert.equal(stats.completed, PROFILES, 'completed');
    assert.equal(stats.waiting, 0, 'waiting');
    assert.deepEqual(stats.exited, {}, 'exited');
    for (const node of UPDATE_NODES) {
      assert.equal(stats.nodes[node]?.reached, PROFILES, `${node} reached`);
      assert.equal(stats.nodes[node]?.passed, PROFILES, `${node} passed`);
    }

    // Each profile, through the admin API. A trait update is ingested shortly after its row is
    // marked sent, so a profile that is not right yet is looked at again until the deadline.
    const recheckUntil = Date.now() + 30_000;
    let failing = Array.from({ length: PROFILES }, (_, i) => i);
    let problems: (string | null)[] = [];
    for (;;) {
      problems = await pool(failing, 8, (i) => problemsOf(second.url, i));
      const still = failing.filter((_, k) => problems[k] !== null);
      if (still.length === 0) break;
      if (Date.now() > recheckUntil) {
        const kinds = new Map<string, number>();
        for (const x of problems) {
          if (x === null) continue;
          const kind = x.replace(/\b(run|outbox row) [^ ]+/g, '$1 …');
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        }
        const shown = still.slice(0, 5).map((i) => `${userId(i)}: ${problems[failing.indexOf(i)]}`);
        assert.fail(
          `${still.length} profiles are wrong after the restart; by kind: ${JSON.stringify(Object.fromEntries(kinds))}\n${shown.join('\n')}`,
        );
      }
      failing = still;
      await sleep(1000);
    }
  });
});

describe('trait updates of consecutive steps', () => {
  /*
   * The smallest case of what the test above checks: two `update` nodes that increment the same
   * trait must add up, even when the first one's update is still in the outbox when the second
   * one runs. Here both run in one activation, so the second can never see the first applied.
   */
  it('adds up two increments of the same trait made one after the other', async () => {
    const clock = new VirtualClock(Date.parse('2026-03-02T10:00:00.000Z'));
    const server = await startApp({ clock });
    try {
      await server.app.journeys.ready;
      const put = await admin(server.url, 'PUT', '/api/journeys/twice?publish=true', {
        trigger: { event: 'Counted' },
        start: 'one',
        nodes: {
          one: { type: 'update', increment: { visits: 1 }, next: 'two' },
          two: { type: 'update', increment: { visits: 1 }, next: null },
        },
      });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const r = await postTracking(server.url, '/v1/track', {
        userId: 'counted',
        event: 'Counted',
        timestamp: new Date(clock.now()).toISOString(),
      });
      assert.equal(r.status, 200);
      const deadline = Date.now() + 30_000;
      for (;;) {
        await server.app.journeys.settled();
        const p = await findProfile(server.url, 'userId', 'counted');
        const runs = p
          ? (await admin<{ runs: RunBody[] }>(server.url, 'GET', `/api/profiles/${p.id}/runs`)).body.runs
          : [];
        const run = runs[0]
          ? (await admin<RunBody>(server.url, 'GET', `/api/runs/${runs[0].id}`)).body
          : null;
        if (run !== null && run.outbox.length === 2 && run.outbox.every((o) => o.status === 'sent')) {
          const now = await findProfile(server.url, 'userId', 'counted');
          assert.equal(now?.traits.visits, 2, 'both increments are applied');
          return;
        }
        if (Date.now() > deadline) assert.fail(`the updates were not performed: ${JSON.stringify(run)}`);
        await sleep(50);
      }
    } finally {
      await server.close();
    }
  });
});
