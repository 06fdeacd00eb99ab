/**
 * The journey store contract: one suite, run against the SQLite and the Postgres adapter. Each
 * adapter gets its own database (a temporary SQLite file, a freshly created Postgres schema,
 * dropped afterwards) and each test its own workspace, so tests never see each other's data.
 *
 * Postgres: `postgres://postgres@127.0.0.1:5432/test`, or `CONCIERGE_TEST_POSTGRES_URL`. When it
 * is unreachable the Postgres half is skipped with a message, unless `CI` is set, where it fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { RunState, RunStatus } from '../../src/journeys/step.ts';
import type {
  EntryRecord,
  JourneyBatch,
  JourneyStore,
  OutboxRow,
  StatRow,
} from '../../src/journeys/store/port.ts';
import { PostgresJourneyStore } from '../../src/journeys/store/postgres-journey-store.ts';
import { SqliteJourneyStore } from '../../src/journeys/store/sqlite-journey-store.ts';

const PG_URL = process.env.CONCIERGE_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

interface Harness {
  readonly store: JourneyStore;
  dispose(): Promise<void>;
}

interface Dialect {
  readonly name: string;
  readonly unavailable: string | null;
  setup(): Promise<Harness>;
}

async function postgresProblem(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return err instanceof Error ? err.message || err.name : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const pgProblem = await postgresProblem();

const DIALECTS: readonly Dialect[] = [
  {
    name: 'sqlite',
    unavailable: null,
    async setup() {
      const dir = mkdtempSync(join(tmpdir(), 'concierge-journey-store-'));
      const store = new SqliteJourneyStore(join(dir, 'journeys.db'));
      await store.migrate();
      return {
        store,
        async dispose() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    unavailable: pgProblem === null ? null : `Postgres is unreachable at ${PG_URL}: ${pgProblem}`,
    async setup() {
      const schema = `concierge_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const store = new PostgresJourneyStore({ url: PG_URL, schema, poolSize: 4 });
      await store.migrate();
      return {
        store,
        async dispose() {
          try {
            await store.close();
            await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          } finally {
            await admin.end();
          }
        },
      };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Building rows
// ---------------------------------------------------------------------------------------------

const T0 = Date.parse('2026-03-02T10:00:00.000Z');
const newWorkspace = () => `ws_${randomBytes(5).toString('hex')}`;
let sequence = 0;
/** Ids that sort in creation order, unique across the suite. */
const nextId = (prefix: string) => `${prefix}-${String(sequence++).padStart(6, '0')}`;

function run(over: Partial<RunState> & { profileId: string }): RunState {
  return {
    id: nextId('run'),
    journey: 'j',
    version: 1,
    status: 'active' as RunStatus,
    node: 'wait',
    wakeAt: null,
    startedAt: T0,
    updatedAt: T0,
    trigger: { name: 'Started', timestamp: T0, messageId: 'm-1', properties: { order_id: 'o-1' } },
    steps: 1,
    arrivals: {},
    variants: {},
    reason: null,
    ...over,
  };
}

function outbox(over: Partial<OutboxRow> & { profileId: string }): OutboxRow {
  return {
    id: nextId('out'),
    runId: null,
    journey: 'j',
    kind: 'update',
    payload: { traits: { n: 1 }, node: 'u' },
    status: 'pending',
    dueAt: T0,
    attempts: 0,
    detail: null,
    createdAt: T0,
    ...over,
  };
}

const entry = (over: Partial<EntryRecord> & { profileId: string }): EntryRecord => ({
  journey: 'j',
  group: 'treatment',
  entries: 1,
  firstAt: T0,
  lastAt: T0,
  ...over,
});

const batch = (over: Partial<JourneyBatch>): JourneyBatch => ({
  runs: [],
  entries: [],
  outbox: [],
  cancelRuns: [],
  stats: [],
  ...over,
});

const sortStats = (rows: readonly StatRow[]) =>
  [...rows].sort((a, b) => (`${a.node ?? ''}/${a.metric}` < `${b.node ?? ''}/${b.metric}` ? -1 : 1));
const ids = (xs: readonly { id: string }[]) => xs.map((x) => x.id);
const byId = (xs: readonly { id: string }[]) => [...ids(xs)].sort();

// ---------------------------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------------------------

for (const dialect of DIALECTS) {
  const skip =
    dialect.unavailable !== null && !process.env.CI
      ? `${dialect.unavailable} (set CI to make this a failure)`
      : false;

  describe(`journey store contract: ${dialect.name}`, { skip }, () => {
    let harness: Harness | undefined;
    let store: JourneyStore;

    before(async () => {
      if (dialect.unavailable !== null) throw new Error(dialect.unavailable);
      harness = await dialect.setup();
      store = harness.store;
    });
    after(async () => {
      await harness?.dispose();
    });

    test('migrating again keeps what is stored', async () => {
      const ws = newWorkspace();
      await store.addVersion(ws, 'kept', { start: 'a' }, T0);
      await store.migrate();
      assert.equal((await store.getJourney(ws, 'kept'))?.latestVersion, 1);
    });

    test('numbers versions from 1 per journey and keeps each definition', async () => {
      const ws = newWorkspace();
      assert.equal(await store.getJourney(ws, 'welcome'), null);
      assert.equal(await store.addVersion(ws, 'welcome', { start: 'a', nested: { x: [1, 2] } }, T0), 1);
      assert.equal(await store.addVersion(ws, 'welcome', { start: 'b' }, T0 + 1000), 2);
      assert.equal(await store.addVersion(ws, 'another', { start: 'c' }, T0 + 2000), 1);
      assert.deepEqual(await store.getJourney(ws, 'welcome'), {
        key: 'welcome',
        status: 'draft',
        publishedVersion: null,
        latestVersion: 2,
        updatedAt: T0 + 1000,
      });
      assert.deepEqual(await store.getVersion(ws, 'welcome', 1), {
        key: 'welcome',
        version: 1,
        definition: { start: 'a', nested: { x: [1, 2] } },
        createdAt: T0,
      });
      assert.equal(await store.getVersion(ws, 'welcome', 3), null);
      assert.deepEqual(
        (await store.listVersions(ws, 'welcome')).map((v) => [v.version, v.definition.start]),
        [
          [1, 'a'],
          [2, 'b'],
        ],
      );
      assert.deepEqual(
        (await store.listJourneys(ws)).map((j) => j.key),
        ['another', 'welcome'],
      );
      // Another workspace sees none of it.
      assert.deepEqual(await store.listJourneys(newWorkspace()), []);
    });

    test('hands out distinct version numbers to concurrent saves', async () => {
      const ws = newWorkspace();
      const versions = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.addVersion(ws, 'busy', { start: `n${i}` }, T0 + i)),
      );
      assert.deepEqual(
        [...versions].sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
      assert.equal((await store.getJourney(ws, 'busy'))?.latestVersion, 8);
    });

    test('records status changes with the published version', async () => {
      const ws = newWorkspace();
      await store.addVersion(ws, 'j', { start: 'a' }, T0);
      await store.addVersion(ws, 'j', { start: 'b' }, T0);
      await store.setStatus(ws, 'j', 'active', 1, T0 + 5000);
      assert.deepEqual(await store.getJourney(ws, 'j'), {
        key: 'j',
        status: 'active',
        publishedVersion: 1,
        latestVersion: 2,
        updatedAt: T0 + 5000,
      });
      await store.setStatus(ws, 'j', 'paused', 1, T0 + 6000);
      assert.equal((await store.getJourney(ws, 'j'))?.status, 'paused');
    });

    test('commits runs, entries, outbox rows, counters and the cursor together', async () => {
      const ws = newWorkspace();
      assert.equal(await store.cursor(ws), 0);
      const r = run({
        profileId: 'p1',
        wakeAt: T0 + 60_000,
        arrivals: { w: { name: 'X', timestamp: T0, messageId: 'm', properties: { a: [1] } } },
        variants: { s: 'B' },
      });
      const o = outbox({ profileId: 'p1', runId: r.id });
      await store.commit(ws, {
        runs: [r],
        entries: [entry({ profileId: 'p1' })],
        outbox: [o],
        cancelRuns: [],
        stats: [{ journey: 'j', node: null, metric: 'entered', n: 1 }],
        cursor: 42,
      });
      assert.deepEqual(await store.getRun(ws, r.id), r);
      assert.deepEqual(await store.entries(ws, [['j', 'p1']]), [entry({ profileId: 'p1' })]);
      assert.deepEqual(await store.outboxOfRun(ws, r.id), [o]);
      assert.deepEqual(await store.stats(ws, 'j'), [{ node: null, metric: 'entered', n: 1 }]);
      assert.equal(await store.cursor(ws), 42);
      // A batch without a cursor leaves it where it was.
      await store.commit(ws, batch({ stats: [{ journey: 'j', node: null, metric: 'entered', n: 1 }] }));
      assert.equal(await store.cursor(ws), 42);
    });

    test('a batch that fails part-way leaves nothing of itself behind', async () => {
      const ws = newWorkspace();
      const r = run({ profileId: 'p1', wakeAt: T0 + 1000 });
      await store.commit(ws, batch({ runs: [r], cursor: 10 }));
      const moved = { ...r, node: 'later', wakeAt: T0 + 9000, steps: 2 };
      const bad: JourneyBatch = {
        runs: [moved, run({ profileId: 'p2' })],
        entries: [entry({ profileId: 'p2' })],
        outbox: [outbox({ profileId: 'p2' })],
        cancelRuns: [],
        stats: [{ journey: 'j', node: 'wait', metric: 'reached', n: 1 }],
        // Fails last, after everything else was written inside the transaction.
        cursor: null as unknown as number,
      };
      await assert.rejects(store.commit(ws, bad));
      assert.deepEqual(await store.getRun(ws, r.id), r);
      assert.equal(await store.getRun(ws, bad.runs[1]!.id), null);
      assert.deepEqual(await store.entries(ws, [['j', 'p2']]), []);
      assert.deepEqual(await store.outboxOfProfile(ws, 'p2', 10), []);
      assert.deepEqual(await store.stats(ws, 'j'), []);
      assert.equal(await store.cursor(ws), 10);
      // And the store still takes the next batch.
      await store.commit(ws, batch({ runs: [moved], cursor: 11 }));
      assert.deepEqual(await store.getRun(ws, r.id), moved);
      assert.equal(await store.cursor(ws), 11);
    });

    test('committing the same effect again keeps the first row and whatever happened to it', async () => {
      const ws = newWorkspace();
      const r = run({ profileId: 'p1' });
      const o = outbox({ id: `${r.id}:3`, profileId: 'p1', runId: r.id });
      await store.commit(ws, batch({ runs: [r], outbox: [o] }));
      const [claimed] = await store.claimOutbox(ws, T0, 10);
      assert.equal(claimed?.id, o.id);
      await store.settleOutbox(ws, [{ id: o.id, status: 'sent', detail: 'done' }], T0 + 10);
      // A replay after a crash: the same step produces the same effect id.
      await store.commit(
        ws,
        batch({ runs: [r], outbox: [{ ...o, payload: { traits: { n: 99 } } }, { ...o }] }),
      );
      const rows = await store.outboxOfRun(ws, r.id);
      assert.equal(rows.length, 1);
      assert.deepEqual(
        { status: rows[0]!.status, attempts: rows[0]!.attempts, payload: rows[0]!.payload },
        { status: 'sent', attempts: 1, payload: o.payload },
      );
      assert.deepEqual(await store.claimOutbox(ws, T0 + 1_000_000, 10), []);
    });

    test('committing a run again replaces its state', async () => {
      const ws = newWorkspace();
      const r = run({ profileId: 'p1', wakeAt: T0 + 1000 });
      await store.commit(ws, batch({ runs: [r] }));
      const done: RunState = {
        ...r,
        status: 'completed',
        node: null,
        wakeAt: null,
        steps: 4,
        reason: 'completed',
        updatedAt: T0 + 2000,
      };
      await store.commit(ws, batch({ runs: [done] }));
      assert.deepEqual(await store.getRun(ws, r.id), done);
      assert.deepEqual(await store.liveRuns(ws, ['p1']), []);
      assert.equal(await store.nextWake(ws, []), null);
    });

    test('lists live runs of the given profiles only', async () => {
      const ws = newWorkspace();
      const a = run({ profileId: 'p1' });
      const b = run({ profileId: 'p1', status: 'scheduled', node: null, wakeAt: T0 + 5 });
      const c = run({ profileId: 'p1', status: 'completed', node: null });
      const d = run({ profileId: 'p1', status: 'exited', node: null, reason: 'stopped' });
      const e = run({ profileId: 'p1', status: 'converted', node: null });
      const f = run({ profileId: 'p2' });
      const g = run({ profileId: 'p3' });
      await store.commit(ws, batch({ runs: [a, b, c, d, e, f, g] }));
      assert.deepEqual(byId(await store.liveRuns(ws, ['p1', 'p2'])), byId([a, b, f]));
      assert.deepEqual(await store.liveRuns(ws, []), []);
      assert.deepEqual(await store.liveRuns(ws, ['nobody']), []);
      assert.deepEqual(await store.liveRuns(newWorkspace(), ['p1']), []);
    });

    test('pages a journey’s live runs in id order, and a profile’s runs newest first', async () => {
      const ws = newWorkspace();
      const runs = Array.from({ length: 5 }, (_, i) =>
        run({ profileId: `p${i % 2}`, journey: 'paged', startedAt: T0 + i * 1000 }),
      );
      const ended = run({
        profileId: 'p0',
        journey: 'paged',
        status: 'completed',
        node: null,
        startedAt: T0 + 9000,
      });
      const other = run({ profileId: 'p0', journey: 'other', startedAt: T0 + 10_000 });
      await store.commit(ws, batch({ runs: [...runs, ended, other] }));
      const first = await store.journeyRuns(ws, 'paged', '', 3);
      assert.deepEqual(ids(first), ids(runs.slice(0, 3)));
      const rest = await store.journeyRuns(ws, 'paged', first[2]!.id, 3);
      assert.deepEqual(ids(rest), ids(runs.slice(3)));
      assert.deepEqual(
        ids(await store.profileRuns(ws, 'p0', 10)),
        ids([other, ended, runs[4]!, runs[2]!, runs[0]!]),
      );
      assert.deepEqual(ids(await store.profileRuns(ws, 'p0', 2)), ids([other, ended]));
      assert.equal(await store.getRun(ws, 'no-such-run'), null);
    });

    test('finds due timers earliest first, skipping the given journeys', async () => {
      const ws = newWorkspace();
      assert.equal(await store.nextWake(ws, []), null);
      const late = run({ profileId: 'p1', wakeAt: T0 + 3000 });
      const early = run({ profileId: 'p2', wakeAt: T0 + 1000 });
      const middle = run({ profileId: 'p3', wakeAt: T0 + 2000, journey: 'paused-one' });
      const scheduled = run({ profileId: 'p4', status: 'scheduled', node: null, wakeAt: T0 + 2500 });
      const notYet = run({ profileId: 'p5', wakeAt: T0 + 60_000 });
      const noTimer = run({ profileId: 'p6' });
      await store.commit(ws, batch({ runs: [late, early, middle, scheduled, notYet, noTimer] }));
      assert.deepEqual(
        ids(await store.dueRuns(ws, T0 + 3000, 10, [])),
        ids([early, middle, scheduled, late]),
      );
      assert.deepEqual(ids(await store.dueRuns(ws, T0 + 3000, 2, [])), ids([early, middle]));
      assert.deepEqual(ids(await store.dueRuns(ws, T0 + 2000, 10, [])), ids([early, middle]));
      assert.deepEqual(
        ids(await store.dueRuns(ws, T0 + 3000, 10, ['paused-one'])),
        ids([early, scheduled, late]),
      );
      assert.deepEqual(ids(await store.dueRuns(ws, T0 + 3000, 10, ['paused-one', 'j'])), []);
      assert.deepEqual(await store.dueRuns(ws, T0, 10, []), []);
      assert.equal(await store.nextWake(ws, []), T0 + 1000);
      assert.equal(await store.nextWake(ws, ['j']), T0 + 2000);
      assert.equal(await store.nextWake(ws, ['j', 'paused-one']), null);
      assert.equal(await store.nextWake(newWorkspace(), []), null);
      // A fired timer is cleared with the run's new state.
      await store.commit(ws, batch({ runs: [{ ...early, wakeAt: null, node: 'next' }] }));
      assert.equal(await store.nextWake(ws, []), T0 + 2000);
    });

    test('keeps one entry record per journey and profile, with its first group and time', async () => {
      const ws = newWorkspace();
      await store.commit(
        ws,
        batch({
          entries: [
            entry({ profileId: 'p1', group: 'control' }),
            entry({ profileId: 'p2' }),
            entry({ profileId: 'p1', journey: 'other' }),
          ],
        }),
      );
      // Entering again: the count and last time move, the group and first time stay.
      await store.commit(
        ws,
        batch({
          entries: [
            entry({ profileId: 'p1', group: 'treatment', entries: 2, firstAt: T0 + 5000, lastAt: T0 + 5000 }),
          ],
        }),
      );
      const got = await store.entries(ws, [
        ['j', 'p1'],
        ['j', 'p2'],
        ['other', 'p2'],
        ['j', 'nobody'],
      ]);
      const sorted = [...got].sort((a, b) => (a.profileId < b.profileId ? -1 : 1));
      assert.deepEqual(sorted, [
        entry({ profileId: 'p1', group: 'control', entries: 2, lastAt: T0 + 5000 }),
        entry({ profileId: 'p2' }),
      ]);
      assert.deepEqual(await store.entries(ws, []), []);
      const page1 = await store.journeyEntries(ws, 'j', '', 1);
      assert.deepEqual(
        page1.map((e) => e.profileId),
        ['p1'],
      );
      assert.deepEqual(
        (await store.journeyEntries(ws, 'j', 'p1', 10)).map((e) => e.profileId),
        ['p2'],
      );
    });

    test('sums counters within a batch and across batches, and drops zero sums', async () => {
      const ws = newWorkspace();
      await store.commit(
        ws,
        batch({
          stats: [
            { journey: 'j', node: null, metric: 'entered', n: 1 },
            { journey: 'j', node: null, metric: 'entered', n: 1 },
            { journey: 'j', node: 'wait', metric: 'waiting', n: 1 },
            { journey: 'j', node: 'wait', metric: 'waiting', n: 1 },
            { journey: 'j', node: 'wait', metric: 'waiting', n: -1 },
            { journey: 'j', node: 'send', metric: 'sent', n: 1 },
            { journey: 'j', node: 'send', metric: 'sent', n: -1 },
            { journey: 'k', node: null, metric: 'entered', n: 7 },
          ],
        }),
      );
      await store.commit(
        ws,
        batch({
          stats: [
            { journey: 'j', node: null, metric: 'entered', n: 3 },
            { journey: 'j', node: 'wait', metric: 'waiting', n: -1 },
          ],
        }),
      );
      assert.deepEqual(
        sortStats(await store.stats(ws, 'j')),
        sortStats([
          { node: null, metric: 'entered', n: 5 },
          { node: 'wait', metric: 'waiting', n: 0 },
        ]),
      );
      assert.deepEqual(await store.stats(ws, 'k'), [{ node: null, metric: 'entered', n: 7 }]);
      assert.deepEqual(await store.stats(newWorkspace(), 'j'), []);
    });

    test('without a deliverer, only trait updates are claimed and timed; messages wait untouched', async () => {
      const ws = newWorkspace();
      const send = outbox({ profileId: 'p1', kind: 'send', payload: { template: 't' }, dueAt: T0 });
      const update = outbox({ profileId: 'p1', dueAt: T0 + 500 });
      await store.commit(ws, batch({ outbox: [send, update] }));
      assert.equal(await store.nextOutboxDue(ws), T0);
      assert.equal(await store.nextOutboxDue(ws, true), T0 + 500);
      assert.deepEqual(await store.claimOutbox(ws, T0 + 1000, 10, true).then(ids), ids([update]));
      assert.equal(await store.nextOutboxDue(ws, true), null);
      assert.deepEqual(await store.claimOutbox(ws, T0 + 1000, 10, true), []);
      const left = (await store.outboxOfProfile(ws, 'p1', 10)).find((r) => r.id === send.id)!;
      assert.deepEqual([left.status, left.attempts], ['pending', 0]);
      assert.deepEqual(await store.claimOutbox(ws, T0 + 1000, 10).then(ids), ids([send]));
    });

    test('claims due outbox rows once, oldest first, and settles them', async () => {
      const ws = newWorkspace();
      const a = outbox({ profileId: 'p1', dueAt: T0 + 2000, createdAt: T0 });
      const b = outbox({ profileId: 'p1', dueAt: T0 + 1000, createdAt: T0 });
      const c = outbox({ profileId: 'p2', dueAt: T0 + 3000, createdAt: T0 });
      const later = outbox({ profileId: 'p2', dueAt: T0 + 60_000, createdAt: T0 });
      await store.commit(ws, batch({ outbox: [a, b, c, later] }));
      assert.equal(await store.nextOutboxDue(ws), T0 + 1000);
      assert.deepEqual(await store.counts(ws), { live: 0, outboxPending: 4 });

      const first = await store.claimOutbox(ws, T0 + 3000, 2);
      assert.deepEqual(ids(first), ids([b, a]));
      assert.ok(first.every((r) => r.status === 'sending' && r.attempts === 1));
      // Claimed rows are not handed out again.
      assert.deepEqual(ids(await store.claimOutbox(ws, T0 + 3000, 10)), ids([c]));
      assert.deepEqual(await store.claimOutbox(ws, T0 + 3000, 10), []);
      assert.equal(await store.nextOutboxDue(ws), T0 + 60_000);

      await store.settleOutbox(
        ws,
        [
          { id: b.id, status: 'sent', detail: 'ok' },
          { id: a.id, status: 'pending', detail: 'retry: timeout', dueAt: T0 + 10_000 },
          { id: c.id, status: 'failed', detail: 'bad address' },
        ],
        T0 + 3500,
      );
      const rows = new Map((await store.outboxOfProfile(ws, 'p1', 10)).map((r) => [r.id, r]));
      assert.deepEqual(
        [rows.get(b.id)?.status, rows.get(b.id)?.detail, rows.get(b.id)?.attempts],
        ['sent', 'ok', 1],
      );
      assert.deepEqual(
        [rows.get(a.id)?.status, rows.get(a.id)?.dueAt, rows.get(a.id)?.detail],
        ['pending', T0 + 10_000, 'retry: timeout'],
      );
      assert.equal((await store.outboxOfProfile(ws, 'p2', 10)).find((r) => r.id === c.id)?.status, 'failed');
      assert.equal(await store.nextOutboxDue(ws), T0 + 10_000);
      // The retry is claimed again once due, as a second attempt.
      assert.deepEqual(await store.claimOutbox(ws, T0 + 9999, 10), []);
      const again = await store.claimOutbox(ws, T0 + 10_000, 10);
      assert.deepEqual(
        again.map((r) => [r.id, r.attempts]),
        [[a.id, 2]],
      );
      assert.deepEqual(await store.counts(ws), { live: 0, outboxPending: 1 });
    });

    test('settles outcomes together with the counters they add to', async () => {
      const ws = newWorkspace();
      const a = outbox({ profileId: 'p1', kind: 'send' });
      const b = outbox({ profileId: 'p2', kind: 'send' });
      await store.commit(ws, batch({ outbox: [a, b] }));
      await store.claimOutbox(ws, T0, 10);
      await store.settleOutbox(
        ws,
        [
          { id: a.id, status: 'sent', detail: null },
          { id: b.id, status: 'skipped', detail: 'frequency_cap' },
        ],
        T0 + 10,
        [
          { journey: 'j', node: 'ask', metric: 'delivered', n: 1 },
          { journey: 'j', node: 'ask', metric: 'skipped:frequency_cap', n: 1 },
          { journey: 'j', node: 'ask', metric: 'delivered', n: 1 },
        ],
      );
      assert.deepEqual(
        sortStats(await store.stats(ws, 'j')),
        sortStats([
          { node: 'ask', metric: 'delivered', n: 2 },
          { node: 'ask', metric: 'skipped:frequency_cap', n: 1 },
        ]),
      );
      assert.deepEqual(
        [...(await store.outboxOfProfile(ws, 'p1', 10)), ...(await store.outboxOfProfile(ws, 'p2', 10))].map(
          (o) => o.status,
        ),
        ['sent', 'skipped'],
      );
    });

    test('puts rows a dead process left sending back to pending', async () => {
      const ws = newWorkspace();
      const a = outbox({ profileId: 'p1' });
      const b = outbox({ profileId: 'p1' });
      await store.commit(ws, batch({ outbox: [a, b] }));
      await store.claimOutbox(ws, T0, 10);
      await store.settleOutbox(ws, [{ id: b.id, status: 'sent', detail: null }], T0);
      assert.equal(await store.recoverOutbox(newWorkspace()), 0);
      assert.equal(await store.recoverOutbox(ws), 1);
      const [again] = await store.claimOutbox(ws, T0, 10);
      assert.deepEqual([again?.id, again?.attempts], [a.id, 2]);
    });

    test('cancels the pending rows of ended runs, and only those', async () => {
      const ws = newWorkspace();
      const r = run({ profileId: 'p1' });
      const other = run({ profileId: 'p1' });
      const sent = outbox({ profileId: 'p1', runId: r.id });
      const pending = outbox({ profileId: 'p1', runId: r.id, dueAt: T0 + 60_000 });
      const kept = outbox({ profileId: 'p1', runId: other.id, dueAt: T0 + 60_000 });
      await store.commit(ws, batch({ runs: [r, other], outbox: [sent, pending, kept] }));
      await store.claimOutbox(ws, T0, 10);
      await store.settleOutbox(ws, [{ id: sent.id, status: 'sent', detail: null }], T0);
      const ended: RunState = { ...r, status: 'converted', node: null, updatedAt: T0 + 100 };
      await store.commit(ws, batch({ runs: [ended], cancelRuns: [r.id] }));
      assert.deepEqual(
        (await store.outboxOfRun(ws, r.id)).map((o) => [o.id, o.status]),
        [
          [sent.id, 'sent'],
          [pending.id, 'cancelled'],
        ],
      );
      assert.equal((await store.outboxOfRun(ws, other.id))[0]?.status, 'pending');
    });

    test('moves a merged profile’s runs, outbox and entries to the surviving profile', async () => {
      const ws = newWorkspace();
      const r = run({ profileId: 'from', wakeAt: T0 + 100 });
      const o = outbox({ profileId: 'from', runId: r.id });
      // A row without a run moves too.
      const runless = outbox({ profileId: 'from', createdAt: T0 - 1 });
      await store.commit(
        ws,
        batch({
          runs: [r, run({ profileId: 'into' })],
          outbox: [o, runless],
          entries: [
            entry({ profileId: 'from', journey: 'only-from' }),
            entry({ profileId: 'from', journey: 'both', group: 'control' }),
            entry({ profileId: 'into', journey: 'both', group: 'treatment', entries: 3 }),
          ],
        }),
      );
      await store.reassign(ws, 'from', 'into');
      assert.deepEqual(await store.liveRuns(ws, ['from']), []);
      assert.equal((await store.liveRuns(ws, ['into'])).length, 2);
      assert.equal((await store.getRun(ws, r.id))?.profileId, 'into');
      assert.deepEqual(ids(await store.outboxOfProfile(ws, 'into', 10)), [o.id, runless.id]);
      assert.deepEqual(await store.outboxOfProfile(ws, 'from', 10), []);
      const entries = await store.entries(ws, [
        ['only-from', 'into'],
        ['both', 'into'],
        ['only-from', 'from'],
        ['both', 'from'],
      ]);
      const byJourney = Object.fromEntries(entries.map((e) => [`${e.journey}/${e.profileId}`, e]));
      assert.deepEqual(Object.keys(byJourney).sort(), ['both/into', 'only-from/into']);
      // The surviving profile keeps its own record where it had one.
      assert.deepEqual([byJourney['both/into']?.group, byJourney['both/into']?.entries], ['treatment', 3]);
    });

    test('erases everything held on a profile and nothing else', async () => {
      const ws = newWorkspace();
      const r = run({ profileId: 'gone', wakeAt: T0 + 100 });
      const kept = run({ profileId: 'stays' });
      await store.commit(
        ws,
        batch({
          runs: [r, run({ profileId: 'gone', status: 'completed', node: null }), kept],
          outbox: [
            outbox({ profileId: 'gone', runId: r.id }),
            outbox({ profileId: 'gone' }),
            outbox({ profileId: 'stays', runId: kept.id }),
            outbox({ profileId: 'stays' }),
          ],
          entries: [entry({ profileId: 'gone' }), entry({ profileId: 'stays' })],
        }),
      );
      assert.equal(await store.eraseProfile(ws, 'gone'), 5);
      assert.deepEqual(await store.profileRuns(ws, 'gone', 10), []);
      assert.deepEqual(await store.outboxOfProfile(ws, 'gone', 10), []);
      assert.deepEqual(await store.entries(ws, [['j', 'gone']]), []);
      assert.equal(await store.nextWake(ws, []), null);
      assert.equal((await store.profileRuns(ws, 'stays', 10)).length, 1);
      assert.equal((await store.outboxOfProfile(ws, 'stays', 10)).length, 2);
      assert.equal((await store.entries(ws, [['j', 'stays']])).length, 1);
      assert.equal(await store.eraseProfile(ws, 'gone'), 0);
    });

    test('counts live runs and pending outbox rows per workspace', async () => {
      const ws = newWorkspace();
      await store.commit(
        ws,
        batch({
          runs: [
            run({ profileId: 'p1' }),
            run({ profileId: 'p2', status: 'scheduled', node: null, wakeAt: T0 }),
            run({ profileId: 'p3', status: 'completed', node: null }),
          ],
          outbox: [outbox({ profileId: 'p1' }), outbox({ profileId: 'p1', status: 'sent' })],
        }),
      );
      assert.deepEqual(await store.counts(ws), { live: 2, outboxPending: 1 });
      assert.deepEqual(await store.counts(newWorkspace()), { live: 0, outboxPending: 0 });
    });
  });
}
