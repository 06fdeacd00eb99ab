/**
 * The store contract: one suite, run against every adapter. Each adapter gets its own database
 * (a temporary SQLite file, a freshly created Postgres schema) and each test its own workspace,
 * so tests never see each other's data and parallel runs never collide.
 *
 * The Postgres half needs a server (default `postgres://postgres@127.0.0.1:5432/test`, or
 * `CONCIERGE_TEST_POSTGRES_URL`). When it is unreachable the half is skipped with a message, unless
 * `CI` is set, where it fails.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import type { EventType, JsonObject, NormalizedEvent } from '../../src/core/event.ts';
import type { RefusedLink } from '../../src/core/identity.ts';
import {
  asProfileId,
  asSourceId,
  asWorkspaceId,
  type ProfileId,
  type SourceId,
  type WorkspaceId,
} from '../../src/core/ids.ts';
import type { Profile } from '../../src/core/profile.ts';
import { normalizeMessage } from '../../src/ingest/normalize.ts';
import type { RefusalSink } from '../../src/store/apply-events.ts';
import {
  type AppendOutcome,
  DEFAULT_IDENTITY,
  type IdentityConfig,
  type Store,
} from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { parseCursor } from '../../src/store/rows.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { ThreadedSqliteStore } from '../../src/store/sqlite/threaded-sqlite-store.ts';

const PG_URL = process.env.CONCIERGE_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

// ---------------------------------------------------------------------------------------------
// Adapters under test
// ---------------------------------------------------------------------------------------------

/** One adapter's database for the duration of a suite. */
interface Harness {
  /** A store on the suite's database, migrated. Several may be open at once. */
  open(onRefused?: RefusalSink): Promise<Store>;
  /** Names another, empty database on the same server (created on first migrate). */
  newDatabase(): string;
  /** A store on a database from `newDatabase`, before `migrate()` is called. */
  openAt(database: string): Promise<Store>;
  dispose(): Promise<void>;
}

interface Dialect {
  readonly name: string;
  /** Several stores (processes) may append to one database at the same time. */
  readonly multiWriter: boolean;
  /** Why the suite cannot run here, or null. */
  readonly unavailable: string | null;
  setup(): Promise<Harness>;
}

function sqliteHarness(
  open: (path: string, onRefused?: RefusalSink) => Promise<Store>,
): () => Promise<Harness> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'concierge-store-contract-'));
    const main = join(dir, 'store.db');
    return {
      open: (onRefused) => open(main, onRefused),
      newDatabase: () => join(dir, `${randomUUID()}.db`),
      openAt: (path) => open(path),
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    };
  };
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

async function postgresHarness(): Promise<Harness> {
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  await admin.connect();
  const schemas: string[] = [];
  const newSchema = () => {
    const name = `concierge_test_${randomBytes(6).toString('hex')}`;
    schemas.push(name);
    return name;
  };
  const main = newSchema();
  await admin.query(`CREATE SCHEMA ${main}`);
  const stores: PostgresStore[] = [];
  const make = (schema: string, onRefused?: RefusalSink) => {
    const store = new PostgresStore({
      url: PG_URL,
      schema,
      poolSize: 4,
      ...(onRefused ? { onRefused } : {}),
    });
    stores.push(store);
    return store;
  };
  return {
    open: async (onRefused) => {
      const store = make(main, onRefused);
      await store.migrate();
      return store;
    },
    newDatabase: newSchema,
    openAt: async (schema) => make(schema),
    dispose: async () => {
      try {
        for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}

const pgProblem = await postgresProblem();

const DIALECTS: readonly Dialect[] = [
  {
    name: 'sqlite',
    multiWriter: false,
    unavailable: null,
    setup: sqliteHarness(
      async (path, onRefused) => new SqliteStore({ path, ...(onRefused ? { onRefused } : {}) }),
    ),
  },
  {
    name: 'sqlite (writer thread)',
    multiWriter: false,
    unavailable: null,
    setup: sqliteHarness((path, onRefused) =>
      ThreadedSqliteStore.open({ path, ...(onRefused ? { onRefused } : {}) }),
    ),
  },
  {
    name: 'postgres',
    multiWriter: true,
    unavailable: pgProblem === null ? null : `Postgres is unreachable at ${PG_URL}: ${pgProblem}`,
    setup: postgresHarness,
  },
];

// ---------------------------------------------------------------------------------------------
// Building events
// ---------------------------------------------------------------------------------------------

const T0 = Date.parse('2024-01-01T00:00:00.000Z');
const MINUTE = 60_000;
const at = (minutes: number): string => new Date(T0 + minutes * MINUTE).toISOString();

const newWorkspace = (): WorkspaceId => asWorkspaceId(`ws_${randomBytes(5).toString('hex')}`);
const newSource = (): SourceId => asSourceId(`src_${randomBytes(5).toString('hex')}`);

type Emit = (type: EventType, message: JsonObject) => NormalizedEvent;

/** Normalises messages as the tracking API does, for one workspace and source, with a moving receive clock. */
function emitter(ws: WorkspaceId, source: SourceId = newSource()): Emit {
  let clock = T0 + 365 * 24 * 60 * MINUTE;
  return (type, message) => {
    clock += 1000;
    return normalizeMessage(message, type, {
      workspaceId: ws,
      sourceId: source,
      receivedAt: clock,
      newMessageId: () => randomUUID(),
    });
  };
}

const rules =
  (overrides: Partial<IdentityConfig> = {}) =>
  (): IdentityConfig => ({ ...DEFAULT_IDENTITY, ...overrides });

/** Calls `f`, turning a synchronous throw into a rejection. */
const attempt = <T>(f: () => Promise<T>): Promise<T> => Promise.resolve().then(f);

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

async function mustFind(store: Store, ws: WorkspaceId, kind: string, value: string): Promise<Profile> {
  const p = await store.findProfile(ws, kind, value);
  assert.ok(p, `no profile owns ${kind} ${value}`);
  return p;
}

async function allEvents(store: Store, ws: WorkspaceId, id: string) {
  return (await store.listEvents(ws, asProfileId(id), 10_000, null)).events;
}

// ---------------------------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------------------------

for (const dialect of DIALECTS) {
  const skip =
    dialect.unavailable !== null && !process.env.CI
      ? `${dialect.unavailable} (set CI to make this a failure)`
      : false;

  describe(`store contract: ${dialect.name}`, { skip }, () => {
    let harness: Harness | undefined;
    let store: Store;
    const refusals: { ws: WorkspaceId; refused: readonly RefusedLink[] }[] = [];

    before(async () => {
      if (dialect.unavailable !== null) throw new Error(dialect.unavailable);
      harness = await dialect.setup();
      store = await harness.open((ws, refused) => refusals.push({ ws, refused }));
    });

    after(async () => {
      await store?.close();
      await harness?.dispose();
    });

    test('migrating an up-to-date database again, or from two stores at once, is harmless', async () => {
      const h = harness!;
      const database = h.newDatabase();
      const [a, b] = [await h.openAt(database), await h.openAt(database)];
      try {
        await Promise.all([a.migrate(), b.migrate()]);
        const ws = newWorkspace();
        const emit = emitter(ws);
        await a.appendEvents([[emit('track', { anonymousId: 'anon-1', event: 'Signed Up' })]], rules());
        await a.migrate();
        await b.migrate();
        assert.deepEqual(await b.counts(ws), { events: 1, profiles: 1 });
      } finally {
        await a.close();
        await b.close();
      }
      // The suite's own store, already migrated, migrates again without losing anything.
      const ws = newWorkspace();
      await store.appendEvents([[emitter(ws)('track', { userId: 'u-1', event: 'Kept' })]], rules());
      await store.migrate();
      assert.deepEqual(await store.counts(ws), { events: 1, profiles: 1 });
    });

    test('a source is created, listed and found by its write-key hash; settings are kept per workspace', async () => {
      const ws = newWorkspace();
      const other = newWorkspace();
      await store.ensureWorkspace(ws, 'Main');
      await store.ensureWorkspace(ws, 'Main again');
      await store.ensureWorkspace(other, 'Other');
      const hash = `hash-${randomUUID()}`;
      const web = await store.createSource(ws, 'Web', hash);
      const ios = await store.createSource(ws, 'iOS', `hash-${randomUUID()}`);
      assert.equal(web.workspaceId, ws);
      assert.equal(web.name, 'Web');
      assert.ok(!Number.isNaN(Date.parse(web.createdAt)));
      assert.deepEqual(await store.findSourceByWriteKeyHash(hash), web);
      assert.equal(await store.findSourceByWriteKeyHash(`hash-${randomUUID()}`), null);
      assert.deepEqual(sorted((await store.listSources(ws)).map((s) => s.id)), sorted([web.id, ios.id]));
      assert.deepEqual(await store.listSources(other), []);

      assert.equal(await store.getSetting(ws, 'admin_token'), null);
      await store.setSetting(ws, 'admin_token', 'one');
      await store.setSetting(ws, 'admin_token', 'two');
      await store.setSetting(other, 'admin_token', 'three');
      assert.equal(await store.getSetting(ws, 'admin_token'), 'two');
      assert.equal(await store.getSetting(other, 'admin_token'), 'three');
    });

    test('events are read back newest first, and cursor paging returns every event exactly once', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      // 25 events, three to each minute, submitted out of time order over three commits.
      const events = Array.from({ length: 25 }, (_, i) =>
        emit('track', { anonymousId: 'anon-pages', event: `Step ${i}`, timestamp: at(Math.floor(i / 3)) }),
      );
      const submitted = events.map((_, i) => events[(i * 7) % 25]!);
      for (const chunk of [submitted.slice(0, 10), submitted.slice(10, 20), submitted.slice(20)]) {
        await store.appendEvents([chunk], rules());
      }
      const profile = await mustFind(store, ws, 'anonymous_id', 'anon-pages');
      // Newest first; events at the same time come newest-stored first.
      const expected = submitted
        .map((ev, order) => ({ ev, order }))
        .sort((a, b) => b.ev.timestamp - a.ev.timestamp || b.order - a.order)
        .map((x) => x.ev.messageId);

      const all = await store.listEvents(ws, profile.id, 100, null);
      assert.deepEqual(
        all.events.map((e) => e.messageId),
        expected,
      );
      assert.equal(all.cursor, null);
      const first = all.events[0]!;
      assert.equal(first.profileId, profile.id);
      assert.equal(first.type, 'track');
      assert.equal(first.name, 'Step 24');
      assert.equal(first.timestamp, Date.parse(at(8)));
      assert.equal(first.body.event, 'Step 24');
      assert.equal(first.body.anonymousId, 'anon-pages');

      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const before = cursor === null ? null : parseCursor(cursor);
        const page = await store.listEvents(ws, profile.id, 7, before);
        pages.push(page.events.map((e) => e.messageId));
        cursor = page.cursor;
      } while (cursor !== null && pages.length < 10);
      assert.deepEqual(
        pages.map((p) => p.length),
        [7, 7, 7, 4],
      );
      assert.deepEqual(pages.flat(), expected);

      const exact = await store.listEvents(ws, profile.id, 25, null);
      assert.equal(exact.events.length, 25);
      assert.equal(exact.cursor, null, 'no cursor when the page holds the last event');

      // A time works as `before` too: strictly older events only.
      const older = await store.listEvents(ws, profile.id, 100, parseCursor(at(4)));
      assert.deepEqual(
        older.events.map((e) => e.messageId),
        expected.slice(-12),
      );
      assert.deepEqual(await store.listEvents(ws, asProfileId(randomUUID()), 10, null), {
        events: [],
        cursor: null,
      });
    });

    test('a messageId is stored once per source, within a commit and across commits, but again from another source', async () => {
      const ws = newWorkspace();
      const web = emitter(ws);
      const ios = emitter(ws);
      const first = web('track', { anonymousId: 'anon-dup', event: 'Clicked', messageId: 'msg-1' });
      const retry = web('track', { anonymousId: 'anon-dup', event: 'Clicked', messageId: 'msg-1' });
      assert.deepEqual(await store.appendEvents([[first, retry]], rules()), [{ stored: 1, duplicates: 1 }]);

      const second = web('track', { anonymousId: 'anon-dup', event: 'Clicked', messageId: 'msg-2' });
      assert.deepEqual(await store.appendEvents([[second], [second]], rules()), [
        { stored: 1, duplicates: 0 },
        { stored: 0, duplicates: 1 },
      ]);
      assert.deepEqual(await store.appendEvents([[retry, second]], rules()), [{ stored: 0, duplicates: 2 }]);

      const fromIos = ios('track', { anonymousId: 'anon-dup', event: 'Clicked', messageId: 'msg-1' });
      assert.deepEqual(await store.appendEvents([[fromIos]], rules()), [{ stored: 1, duplicates: 0 }]);
      assert.deepEqual(await store.counts(ws), { events: 3, profiles: 1 });

      // A retried identify is not applied again, even when its traits differ.
      await store.appendEvents(
        [
          [
            web('identify', {
              userId: 'u-dup',
              traits: { plan: 'pro' },
              messageId: 'msg-3',
              timestamp: at(1),
            }),
          ],
        ],
        rules(),
      );
      const replay = web('identify', {
        userId: 'u-dup',
        traits: { plan: 'free' },
        messageId: 'msg-3',
        timestamp: at(9),
      });
      assert.deepEqual(await store.appendEvents([[replay]], rules()), [{ stored: 0, duplicates: 1 }]);
      assert.deepEqual((await mustFind(store, ws, 'user_id', 'u-dup')).traits, { plan: 'pro' });
    });

    test('identify links the anonymous history to the known profile, and the old profile id resolves to the survivor', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      // Browsing anonymously on a laptop; known on a phone.
      await store.appendEvents(
        [
          [
            emit('page', { anonymousId: 'anon-laptop', name: 'Home', timestamp: at(1) }),
            emit('track', { anonymousId: 'anon-laptop', event: 'Product Viewed', timestamp: at(2) }),
          ],
          [emit('identify', { userId: 'u-ann', anonymousId: 'anon-phone', timestamp: at(3) })],
        ],
        rules(),
      );
      const anonymous = await mustFind(store, ws, 'anonymous_id', 'anon-laptop');
      const known = await mustFind(store, ws, 'user_id', 'u-ann');
      assert.notEqual(anonymous.id, known.id);
      assert.deepEqual(await store.counts(ws), { events: 3, profiles: 2 });

      // Logging in on the laptop joins the two.
      await store.appendEvents(
        [[emit('identify', { userId: 'u-ann', anonymousId: 'anon-laptop', timestamp: at(4) })]],
        rules(),
      );
      const merged = await mustFind(store, ws, 'anonymous_id', 'anon-laptop');
      assert.equal(merged.id, known.id, 'the profile with the user id survives');
      assert.deepEqual(merged.userIds, ['u-ann']);
      assert.deepEqual(sorted(merged.anonymousIds), ['anon-laptop', 'anon-phone']);
      assert.deepEqual(await store.getProfile(ws, anonymous.id), merged);
      assert.deepEqual(await store.counts(ws), { events: 4, profiles: 1 });
      const events = await allEvents(store, ws, anonymous.id);
      assert.equal(events.length, 4);
      assert.ok(events.every((e) => e.profileId === known.id));
      assert.deepEqual(
        events.map((e) => e.type),
        ['identify', 'identify', 'track', 'page'],
      );

      // The same, all inside one commit: the events stored earlier in it follow the merge too.
      await store.appendEvents(
        [
          [emit('track', { anonymousId: 'anon-tablet', event: 'Viewed', timestamp: at(7) })],
          [
            emit('identify', { userId: 'u-cy', traits: { name: 'Cy' }, timestamp: at(8) }),
            emit('identify', { userId: 'u-cy', anonymousId: 'anon-tablet', timestamp: at(9) }),
          ],
        ],
        rules(),
      );
      const cy = await mustFind(store, ws, 'anonymous_id', 'anon-tablet');
      assert.deepEqual([cy.userIds, cy.traits], [['u-cy'], { name: 'Cy' }]);
      assert.deepEqual(
        (await allEvents(store, ws, cy.id)).map((e) => e.type),
        ['identify', 'identify', 'track'],
      );

      // Identifying a visitor nobody knew yet keeps the visitor's profile (no merge needed).
      await store.appendEvents(
        [[emit('track', { anonymousId: 'anon-new', event: 'Viewed', timestamp: at(5) })]],
        rules(),
      );
      const visitor = await mustFind(store, ws, 'anonymous_id', 'anon-new');
      await store.appendEvents(
        [[emit('identify', { userId: 'u-bob', anonymousId: 'anon-new', timestamp: at(6) })]],
        rules(),
      );
      const bob = await mustFind(store, ws, 'user_id', 'u-bob');
      assert.equal(bob.id, visitor.id);
      assert.deepEqual(bob.anonymousIds, ['anon-new']);
    });

    test('a track of known people: one owner stores at once, two owners merge, a new id attaches, a retry is a duplicate', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      const people = await store.appendWithChanges(
        [
          [emit('identify', { userId: 'u-kim', anonymousId: 'anon-kim', timestamp: at(1) })],
          [emit('track', { anonymousId: 'anon-lee', event: 'Viewed', timestamp: at(2) })],
        ],
        rules(),
      );
      const [kim, lee] = people.changes.profiles as ProfileId[];
      const again = emit('track', {
        userId: 'u-kim',
        anonymousId: 'anon-kim',
        event: 'Viewed',
        timestamp: at(3),
      });
      const next = await store.appendWithChanges(
        [
          [
            again,
            emit('track', { userId: 'u-kim', event: 'Viewed', timestamp: at(4) }),
            emit('page', { anonymousId: 'anon-lee', name: 'Home', timestamp: at(5) }),
            again,
            // Known people on both ids, but two of them: the profiles merge, as for any event.
            emit('track', { userId: 'u-kim', anonymousId: 'anon-lee', event: 'Linked', timestamp: at(6) }),
            // A new anonymous id beside a known user id joins that profile.
            emit('screen', { userId: 'u-kim', anonymousId: 'anon-kim-2', name: 'Cart', timestamp: at(7) }),
          ],
        ],
        rules(),
      );
      assert.deepEqual(next.outcomes, [{ stored: 5, duplicates: 1 }]);
      assert.deepEqual(next.changes.profiles, [kim, kim, lee, null, kim, kim]);
      assert.deepEqual(next.changes.merges, [{ from: lee, into: kim, at: 4 }]);
      const merged = await store.findProfile(ws, 'anonymous_id', 'anon-kim-2');
      assert.equal(merged?.id, kim);
      assert.deepEqual([...merged!.anonymousIds].sort(), ['anon-kim', 'anon-kim-2', 'anon-lee']);
      const after = await store.appendWithChanges(
        [[emit('track', { userId: 'u-kim', anonymousId: 'anon-lee', event: 'Viewed', timestamp: at(8) })]],
        rules(),
      );
      assert.deepEqual(after.changes.profiles, [kim]);
      assert.deepEqual(after.changes.merges, []);
    });

    test("a commit reports each event's profile, the merges and the changed traits; scans follow merges", async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      const first = await store.appendWithChanges(
        [
          [emit('track', { anonymousId: 'anon-1', event: 'Product Viewed', timestamp: at(1) })],
          [emit('identify', { userId: 'u-1', traits: { plan: 'pro' }, timestamp: at(2) })],
        ],
        rules(),
      );
      const anon = first.changes.profiles[0]!;
      const known = first.changes.profiles[1]!;
      assert.notEqual(anon, known);
      assert.deepEqual(first.changes.merges, []);
      assert.deepEqual(first.changes.traits, [[known, { plan: 'pro' }]]);

      const retry = emit('identify', { userId: 'u-1', anonymousId: 'anon-1', timestamp: at(3) });
      const second = await store.appendWithChanges(
        [[emit('track', { userId: 'u-1', event: 'Order Completed', timestamp: at(4) }), retry, retry]],
        rules(),
      );
      assert.deepEqual(second.outcomes, [{ stored: 2, duplicates: 1 }]);
      assert.deepEqual(second.changes.profiles, [known, known, null]);
      assert.deepEqual(second.changes.merges, [{ from: anon, into: known, at: 1 }]);

      const upTo = await store.maxSeq(ws);
      const all = await store.scanEvents(ws, { afterSeq: 0, upToSeq: upTo, limit: 100 });
      assert.equal(all.length, 4);
      assert.ok(
        all.every((e) => e.profileId === known),
        'events of the merged profile scan under the survivor',
      );
      assert.deepEqual(
        all.map((e) => e.seq),
        [...all.map((e) => e.seq)].sort((a, b) => a - b),
      );
      assert.equal(all[0]!.body.event, 'Product Viewed');
      const named = await store.scanEvents(ws, {
        afterSeq: 0,
        upToSeq: upTo,
        limit: 100,
        names: ['Order Completed'],
      });
      assert.deepEqual(
        named.map((e) => [e.name, e.timestamp]),
        [['Order Completed', Date.parse(at(4))]],
      );
      const paged = await store.scanEvents(ws, { afterSeq: all[1]!.seq, upToSeq: all[2]!.seq, limit: 100 });
      assert.deepEqual(
        paged.map((e) => e.seq),
        [all[2]!.seq],
      );
      assert.deepEqual(await store.scanProfiles(ws, '', 10), [{ id: known, traits: { plan: 'pro' } }]);
      assert.deepEqual(await store.scanProfiles(ws, known, 10), []);
      assert.equal(await store.maxSeq(newWorkspace()), 0);
    });

    test('alias merges the previousId into the userId', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [
          [emit('identify', { userId: 'u-cat', traits: { name: 'Cat' }, timestamp: at(1) })],
          [emit('track', { anonymousId: 'anon-cat', event: 'Cart Viewed', timestamp: at(2) })],
        ],
        rules(),
      );
      const before = await mustFind(store, ws, 'anonymous_id', 'anon-cat');
      await store.appendEvents(
        [[emit('alias', { previousId: 'anon-cat', userId: 'u-cat', timestamp: at(3) })]],
        rules(),
      );
      const cat = await mustFind(store, ws, 'user_id', 'u-cat');
      assert.deepEqual((await store.findProfile(ws, 'anonymous_id', 'anon-cat'))?.id, cat.id);
      assert.deepEqual(cat.anonymousIds, ['anon-cat']);
      assert.equal((await store.getProfile(ws, before.id))?.id, cat.id);
      assert.equal((await allEvents(store, ws, cat.id)).length, 3);
      assert.deepEqual(await store.counts(ws), { events: 3, profiles: 1 });

      // A previousId that is an earlier user id merges that user, when the rules allow two user ids.
      await store.appendEvents(
        [[emit('identify', { userId: 'u-cat-old', traits: { city: 'Oslo' }, timestamp: at(4) })]],
        rules(),
      );
      await store.appendEvents(
        [[emit('alias', { previousId: 'u-cat-old', userId: 'u-cat', timestamp: at(5) })]],
        rules({ maxUserIdsPerProfile: 2 }),
      );
      const both = await mustFind(store, ws, 'user_id', 'u-cat-old');
      assert.equal(both.id, cat.id);
      assert.deepEqual(sorted(both.userIds), ['u-cat', 'u-cat-old']);
      assert.deepEqual(both.traits, { name: 'Cat', city: 'Oslo' });
    });

    test('an alias whose previousId is also its anonymousId, on a first visit, is stored', async () => {
      // What analytics.js sends for `analytics.alias(userId)` before any other call.
      const ws = newWorkspace();
      const emit = emitter(ws);
      const alias = emit('alias', { previousId: 'anon-first', anonymousId: 'anon-first', userId: 'u-first' });
      assert.deepEqual(await store.appendEvents([[alias]], rules()), [{ stored: 1, duplicates: 0 }]);
      const p = await mustFind(store, ws, 'anonymous_id', 'anon-first');
      assert.deepEqual(p.userIds, ['u-first']);
      assert.deepEqual(p.anonymousIds, ['anon-first']);
    });

    test('an identifier trait (email) merges two anonymous profiles, matching case and spacing loosely', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [
          [
            emit('identify', {
              anonymousId: 'anon-dee-1',
              traits: { email: 'Dee@Example.com' },
              timestamp: at(1),
            }),
          ],
          [emit('track', { anonymousId: 'anon-dee-2', event: 'Viewed', timestamp: at(2) })],
        ],
        rules(),
      );
      assert.deepEqual(await store.counts(ws), { events: 2, profiles: 2 });
      await store.appendEvents(
        [
          [
            emit('identify', {
              anonymousId: 'anon-dee-2',
              traits: { email: ' dee@example.COM ' },
              timestamp: at(3),
            }),
          ],
        ],
        rules(),
      );
      const dee = await mustFind(store, ws, 'email', 'DEE@example.com ');
      assert.deepEqual(sorted(dee.anonymousIds), ['anon-dee-1', 'anon-dee-2']);
      assert.deepEqual(dee.identifiers, { email: ['dee@example.com'] });
      assert.equal(dee.traits.email, ' dee@example.COM ', 'the trait itself keeps the newest value as sent');
      assert.deepEqual(await store.counts(ws), { events: 3, profiles: 1 });
    });

    test('the user-id limit refuses to merge two userIds that share an anonymousId, and reports the refusal', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [[emit('identify', { userId: 'u-eve', anonymousId: 'anon-shared', timestamp: at(1) })]],
        rules(),
      );
      const eve = await mustFind(store, ws, 'user_id', 'u-eve');
      await store.appendEvents(
        [[emit('identify', { userId: 'u-fay', anonymousId: 'anon-shared', timestamp: at(2) })]],
        rules({ maxUserIdsPerProfile: 1 }),
      );
      const fay = await mustFind(store, ws, 'user_id', 'u-fay');
      assert.notEqual(fay.id, eve.id);
      assert.deepEqual(fay.userIds, ['u-fay']);
      assert.deepEqual(fay.anonymousIds, []);
      assert.equal((await mustFind(store, ws, 'anonymous_id', 'anon-shared')).id, eve.id);
      assert.deepEqual((await store.getProfile(ws, eve.id))?.userIds, ['u-eve']);
      assert.deepEqual(await store.counts(ws), { events: 2, profiles: 2 });
      assert.deepEqual(
        refusals.filter((r) => r.ws === ws).flatMap((r) => r.refused),
        [
          {
            identifier: { kind: 'anonymous_id', value: 'anon-shared' },
            owner: eve.id,
            reason: 'user_id_limit',
          },
        ],
      );
    });

    test('traits merge newest-timestamp-wins per key, even when an older identify arrives later', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [[emit('identify', { userId: 'u-gus', traits: { plan: 'pro', name: 'Gus' }, timestamp: at(20) })]],
        rules(),
      );
      await store.appendEvents(
        [[emit('identify', { userId: 'u-gus', traits: { plan: 'free', city: 'Rome' }, timestamp: at(10) })]],
        rules(),
      );
      assert.deepEqual((await mustFind(store, ws, 'user_id', 'u-gus')).traits, {
        plan: 'pro',
        name: 'Gus',
        city: 'Rome',
      });

      // Merging keeps the newest value of each key from either side.
      await store.appendEvents(
        [
          [
            emit('identify', {
              anonymousId: 'anon-gus',
              traits: { name: 'Gustav', plan: 'trial' },
              timestamp: at(30),
            }),
            emit('identify', { anonymousId: 'anon-gus', traits: { city: 'Turin' }, timestamp: at(5) }),
          ],
        ],
        rules(),
      );
      await store.appendEvents(
        [[emit('identify', { userId: 'u-gus', anonymousId: 'anon-gus', timestamp: at(15) })]],
        rules(),
      );
      assert.deepEqual((await mustFind(store, ws, 'user_id', 'u-gus')).traits, {
        plan: 'trial',
        name: 'Gustav',
        city: 'Rome',
      });
    });

    test('consent comes from context.consent.categoryPreferences, newest per category', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      const consent = (prefs: JsonObject) => ({ consent: { categoryPreferences: prefs } });
      await store.appendEvents(
        [
          [
            emit('track', {
              anonymousId: 'anon-hal',
              event: 'Consent Updated',
              timestamp: at(2),
              context: consent({ Advertising: true, Analytics: true }),
            }),
            emit('page', {
              anonymousId: 'anon-hal',
              name: 'Home',
              timestamp: at(1),
              context: consent({ Advertising: false, Functional: true }),
            }),
            emit('track', {
              anonymousId: 'anon-hal',
              event: 'No Consent Here',
              timestamp: at(3),
              context: { ip: '1.2.3.4' },
            }),
          ],
        ],
        rules(),
      );
      const hal = await mustFind(store, ws, 'anonymous_id', 'anon-hal');
      assert.deepEqual(hal.consent, { Advertising: true, Analytics: true, Functional: true });
      assert.deepEqual(hal.traits, {}, 'consent is not a trait');
    });

    test('a group call links the profile to the group, keeps the group traits, and follows merges', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [
          [
            emit('group', {
              userId: 'u-ivy',
              groupId: 'acme',
              traits: { name: 'Acme', plan: 'enterprise' },
              timestamp: at(2),
            }),
            emit('group', {
              userId: 'u-ivy',
              groupId: 'acme',
              traits: { plan: 'team', seats: 5 },
              timestamp: at(1),
            }),
            emit('group', { userId: 'u-ivy', groupId: 'beta', timestamp: at(3) }),
          ],
        ],
        rules(),
      );
      const ivy = await mustFind(store, ws, 'user_id', 'u-ivy');
      assert.deepEqual(ivy.groups, ['acme', 'beta']);
      const exported = await store.exportProfile(ws, ivy.id);
      assert.deepEqual(exported?.groups, [
        { groupId: 'acme', traits: { name: 'Acme', plan: 'enterprise', seats: 5 } },
        { groupId: 'beta', traits: {} },
      ]);

      await store.appendEvents(
        [
          [
            emit('group', {
              anonymousId: 'anon-ivy',
              groupId: 'gamma',
              traits: { name: 'Gamma' },
              timestamp: at(4),
            }),
          ],
        ],
        rules(),
      );
      await store.appendEvents(
        [[emit('identify', { userId: 'u-ivy', anonymousId: 'anon-ivy', timestamp: at(5) })]],
        rules(),
      );
      assert.deepEqual((await mustFind(store, ws, 'anonymous_id', 'anon-ivy')).groups, [
        'acme',
        'beta',
        'gamma',
      ]);
    });

    test('export returns the profile, the ids merged into it, its events oldest first and its groups', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [
          [
            emit('track', { anonymousId: 'anon-jo', event: 'Viewed', timestamp: at(3) }),
            emit('identify', { userId: 'u-jo', traits: { name: 'Jo' }, timestamp: at(1) }),
            emit('group', { userId: 'u-jo', groupId: 'jo-co', traits: { name: 'Jo Co' }, timestamp: at(2) }),
          ],
        ],
        rules(),
      );
      const anonymous = await mustFind(store, ws, 'anonymous_id', 'anon-jo');
      await store.appendEvents(
        [[emit('alias', { previousId: 'anon-jo', userId: 'u-jo', timestamp: at(4) })]],
        rules(),
      );
      const jo = await mustFind(store, ws, 'user_id', 'u-jo');
      const exported = await store.exportProfile(ws, anonymous.id);
      assert.ok(exported);
      assert.deepEqual(exported.profile, jo);
      assert.deepEqual(exported.mergedProfileIds, [anonymous.id]);
      assert.deepEqual(
        exported.events.map((e) => [e.type, e.timestamp]),
        [
          ['identify', Date.parse(at(1))],
          ['group', Date.parse(at(2))],
          ['track', Date.parse(at(3))],
          ['alias', Date.parse(at(4))],
        ],
      );
      assert.deepEqual(exported.groups, [{ groupId: 'jo-co', traits: { name: 'Jo Co' } }]);
      assert.equal(await store.exportProfile(ws, asProfileId(randomUUID())), null);
    });

    test('sequence numbers are never given out twice, even after the newest events were erased', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [[emit('track', { userId: 'u-old', event: 'Viewed', timestamp: at(1) })]],
        rules(),
      );
      await store.appendEvents(
        [[emit('track', { userId: 'u-gone', event: 'Viewed', timestamp: at(2) })]],
        rules(),
      );
      const before = await store.maxSeq(ws);
      const gone = await mustFind(store, ws, 'user_id', 'u-gone');
      assert.ok(await store.eraseProfile(ws, gone.id));
      await store.appendEvents(
        [[emit('track', { userId: 'u-new', event: 'Viewed', timestamp: at(3) })]],
        rules(),
      );
      const after = await store.scanEvents(ws, {
        afterSeq: before,
        upToSeq: Number.MAX_SAFE_INTEGER,
        limit: 10,
      });
      assert.equal(after.length, 1, 'the new event comes after every number given out before');
      assert.equal(after[0]!.name, 'Viewed');
    });

    test('erasure removes the events, identifiers and profile, and leaves other people untouched', async () => {
      const ws = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [
          [
            emit('track', { anonymousId: 'anon-kim', event: 'Viewed', timestamp: at(1) }),
            emit('identify', { userId: 'u-kim', traits: { email: 'kim@example.com' }, timestamp: at(2) }),
            emit('group', { userId: 'u-kim', groupId: 'kim-co', timestamp: at(3) }),
          ],
          [
            emit('identify', {
              userId: 'u-lee',
              anonymousId: 'anon-lee',
              traits: { email: 'lee@example.com' },
              timestamp: at(1),
            }),
            emit('track', { userId: 'u-lee', event: 'Ordered', timestamp: at(2) }),
          ],
        ],
        rules(),
      );
      const oldKim = await mustFind(store, ws, 'anonymous_id', 'anon-kim');
      await store.appendEvents(
        [[emit('identify', { userId: 'u-kim', anonymousId: 'anon-kim', timestamp: at(4) })]],
        rules(),
      );
      const kim = await mustFind(store, ws, 'user_id', 'u-kim');
      const lee = await mustFind(store, ws, 'user_id', 'u-lee');
      const leeEvents = await allEvents(store, ws, lee.id);
      assert.deepEqual(await store.counts(ws), { events: 6, profiles: 2 });

      // Erasing through the id that was merged away erases the person it now belongs to.
      const report = await store.eraseProfile(ws, oldKim.id);
      assert.deepEqual(report, { profileId: kim.id, events: 4, identifiers: 3 });
      assert.equal(await store.getProfile(ws, kim.id), null);
      assert.equal(await store.getProfile(ws, oldKim.id), null);
      assert.equal(await store.exportProfile(ws, kim.id), null);
      assert.deepEqual(await store.listEvents(ws, kim.id, 10, null), { events: [], cursor: null });
      for (const [kind, value] of [
        ['user_id', 'u-kim'],
        ['anonymous_id', 'anon-kim'],
        ['email', 'kim@example.com'],
      ] as const) {
        assert.equal(await store.findProfile(ws, kind, value), null, `${kind} ${value} still resolves`);
      }
      assert.deepEqual(await store.counts(ws), { events: 2, profiles: 1 });
      assert.deepEqual(await store.getProfile(ws, lee.id), lee);
      assert.deepEqual(await allEvents(store, ws, lee.id), leeEvents);
      assert.equal(await store.eraseProfile(ws, kim.id), null);

      // The same identifiers arriving again start a new person, with nothing of the old one.
      await store.appendEvents(
        [[emit('track', { userId: 'u-kim', anonymousId: 'anon-kim', event: 'Back', timestamp: at(9) })]],
        rules(),
      );
      const again = await mustFind(store, ws, 'anonymous_id', 'anon-kim');
      assert.notEqual(again.id, kim.id);
      assert.deepEqual(again.userIds, ['u-kim']);
      assert.deepEqual(again.traits, {});
      assert.deepEqual(again.groups, []);
      assert.equal((await allEvents(store, ws, again.id)).length, 1);
    });

    test('a commit that throws midway leaves nothing behind, and the store keeps working', async () => {
      const ws = newWorkspace();
      const elsewhere = newWorkspace();
      const emit = emitter(ws);
      await store.appendEvents(
        [
          [
            emit('identify', {
              userId: 'u-max',
              anonymousId: 'anon-max',
              traits: { plan: 'free' },
              timestamp: at(1),
            }),
            emit('track', { anonymousId: 'anon-max-2', event: 'Viewed', timestamp: at(2) }),
          ],
        ],
        rules(),
      );
      const identifiers = [
        ['user_id', 'u-max'],
        ['anonymous_id', 'anon-max'],
        ['anonymous_id', 'anon-max-2'],
        ['anonymous_id', 'anon-max-3'],
        ['email', 'max@example.com'],
        ['user_id', 'u-new'],
      ] as const;
      const snapshot = async () => ({
        counts: await store.counts(ws),
        profiles: await Promise.all(identifiers.map(([k, v]) => store.findProfile(ws, k, v))),
        events: await allEvents(store, ws, (await mustFind(store, ws, 'user_id', 'u-max')).id),
        elsewhere: await store.counts(elsewhere),
      });
      const before = await snapshot();
      // Touches every kind of write: new and merged profiles, traits, consent, groups, events.
      const batch = [
        [
          emit('identify', {
            userId: 'u-max',
            traits: { plan: 'pro', email: 'max@example.com' },
            timestamp: at(3),
          }),
          emit('alias', { previousId: 'anon-max-2', userId: 'u-max', timestamp: at(4) }),
          emit('group', { userId: 'u-max', groupId: 'max-co', traits: { name: 'Max Co' }, timestamp: at(5) }),
          emit('track', {
            anonymousId: 'anon-max-3',
            event: 'Viewed',
            timestamp: at(6),
            context: { consent: { categoryPreferences: { Ads: true } } },
          }),
        ],
        [emit('identify', { userId: 'u-new', anonymousId: 'anon-max-3', timestamp: at(7) })],
        [emitter(elsewhere)('track', { userId: 'u-elsewhere', event: 'Viewed', timestamp: at(8) })],
      ];

      // The rules fail for the last workspace, after the first one's events were applied.
      const failElsewhere = (w: WorkspaceId): IdentityConfig => {
        if (w === elsewhere) throw new Error('identity rules unavailable');
        return DEFAULT_IDENTITY;
      };
      await assert.rejects(
        attempt(() => store.appendEvents(batch, failElsewhere)),
        /identity rules unavailable/,
      );
      assert.deepEqual(await snapshot(), before);

      // Fail on the first look-up of the rules, then the second, and so on, wherever the adapter
      // makes them, until the commit goes through.
      let outcomes: AppendOutcome[] | undefined;
      for (let n = 1; outcomes === undefined; n++) {
        let calls = 0;
        const failNth = (): IdentityConfig => {
          if (++calls === n) throw new Error(`failed on call ${n}`);
          return DEFAULT_IDENTITY;
        };
        try {
          outcomes = await attempt(() => store.appendEvents(batch, failNth));
        } catch (err) {
          assert.match((err as Error).message, /failed on call/);
          assert.deepEqual(await snapshot(), before, `after failing on call ${n}`);
        }
      }
      // Nothing of the failed attempts was stored, so nothing is a duplicate now.
      assert.deepEqual(outcomes, [
        { stored: 4, duplicates: 0 },
        { stored: 1, duplicates: 0 },
        { stored: 1, duplicates: 0 },
      ]);
      const max = await mustFind(store, ws, 'email', 'max@example.com');
      assert.deepEqual(max.userIds, ['u-max']);
      assert.deepEqual(sorted(max.anonymousIds), ['anon-max', 'anon-max-2']);
      assert.deepEqual(max.traits, { plan: 'pro', email: 'max@example.com' });
      assert.deepEqual(max.groups, ['max-co']);
      const fresh = await mustFind(store, ws, 'user_id', 'u-new');
      assert.deepEqual(fresh.anonymousIds, ['anon-max-3']);
      assert.deepEqual(fresh.consent, { Ads: true });
      assert.deepEqual(await store.counts(ws), { events: 7, profiles: 2 });
      assert.deepEqual(await store.counts(elsewhere), { events: 1, profiles: 1 });
    });

    test('identifiers in one workspace never resolve in another', async () => {
      const a = newWorkspace();
      const b = newWorkspace();
      const source = newSource();
      await store.appendEvents(
        [
          [emitter(a, source)('identify', { userId: 'u-same', traits: { side: 'a' }, messageId: 'same-a' })],
          [emitter(b, source)('identify', { userId: 'u-same', traits: { side: 'b' }, messageId: 'same-b' })],
        ],
        rules(),
      );
      const pa = await mustFind(store, a, 'user_id', 'u-same');
      const pb = await mustFind(store, b, 'user_id', 'u-same');
      assert.notEqual(pa.id, pb.id);
      assert.deepEqual([pa.traits, pb.traits], [{ side: 'a' }, { side: 'b' }]);
      assert.equal(await store.getProfile(b, pa.id), null);
      assert.equal(await store.eraseProfile(b, pa.id), null);
      assert.deepEqual(await store.counts(a), { events: 1, profiles: 1 });
    });

    test('two stores appending to one workspace at once never split a person or store an event twice', {
      skip: dialect.multiWriter ? false : 'this adapter has a single writer',
    }, async () => {
      const h = harness!;
      const [a, b] = [await h.open(), await h.open()];
      try {
        const ws = newWorkspace();
        const source = newSource();
        const [emitA, emitB] = [emitter(ws, source), emitter(ws, source)];
        const people = 12;
        const stored: number[] = [];
        const count = (outcomes: { stored: number }[]) => stored.push(...outcomes.map((o) => o.stored));
        const runA = async () => {
          for (let i = 0; i < people; i++) {
            const shared = emitA('track', {
              anonymousId: `anon-${i}`,
              event: 'Shared',
              messageId: `shared-${i}`,
            });
            const own = emitA('identify', { userId: `u-${i}`, anonymousId: `anon-${i}` });
            count(await a.appendEvents([[shared, own]], rules()));
          }
        };
        const runB = async () => {
          for (let i = 0; i < people; i++) {
            const shared = emitB('track', {
              anonymousId: `anon-${i}`,
              event: 'Shared',
              messageId: `shared-${i}`,
            });
            const own = emitB('identify', {
              anonymousId: `anon-${i}`,
              traits: { email: `p${i}@example.com` },
            });
            count(await b.appendEvents([[own], [shared]], rules()));
          }
        };
        await Promise.all([runA(), runB()]);
        assert.equal(
          stored.reduce((s, n) => s + n, 0),
          people * 3,
        );
        for (let i = 0; i < people; i++) {
          const byUser = await mustFind(a, ws, 'user_id', `u-${i}`);
          assert.equal((await mustFind(b, ws, 'anonymous_id', `anon-${i}`)).id, byUser.id);
          assert.equal((await mustFind(b, ws, 'email', `p${i}@example.com`)).id, byUser.id);
          assert.equal((await allEvents(a, ws, byUser.id)).length, 3);
        }
        assert.deepEqual(await store.counts(ws), { events: people * 3, profiles: people });
      } finally {
        await a.close();
        await b.close();
      }
    });

    // -------------------------------------------------------------------------------------------
    // Identity resolution does not depend on arrival order
    // -------------------------------------------------------------------------------------------

    test('the same events in any order and any commits give the same profiles', async () => {
      const USERS = ['user-1', 'user-2', 'user-3'];
      const ANONS = ['anon-1', 'anon-2', 'anon-3', 'anon-4'];
      const EMAILS = ['ann@example.com', 'Ann@Example.com ', 'bob@example.com'];
      const GROUPS = ['g-1', 'g-2'];
      const time = fc.integer({ min: 0, max: 4 }).map(at); // few distinct times, so ties happen
      const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
      const person = fc
        .record({ userId: maybe(fc.constantFrom(...USERS)), anonymousId: maybe(fc.constantFrom(...ANONS)) })
        .filter((p) => p.userId !== undefined || p.anonymousId !== undefined);
      const traits = fc.record(
        {
          plan: fc.constantFrom('free', 'pro', 'team'),
          city: fc.constantFrom('Oslo', 'Rome', 'Lima'),
          email: fc.constantFrom(...EMAILS),
        },
        { requiredKeys: [] },
      );
      const context = maybe(
        fc.dictionary(fc.constantFrom('Ads', 'Analytics'), fc.boolean(), { minKeys: 1 }).map((prefs) => ({
          consent: { categoryPreferences: prefs },
        })),
      );
      const message = fc.oneof(
        fc.record({ type: fc.constant('identify'), person, traits, timestamp: time, context }),
        fc.record({
          type: fc.constant('track'),
          person,
          event: fc.constantFrom('Viewed', 'Bought'),
          timestamp: time,
          context,
        }),
        fc.record({
          type: fc.constant('alias'),
          previousId: fc.constantFrom(...ANONS),
          userId: fc.constantFrom(...USERS),
          anonymousId: maybe(fc.constantFrom(...ANONS)),
          timestamp: time,
        }),
        fc.record({
          type: fc.constant('group'),
          person,
          groupId: fc.constantFrom(...GROUPS),
          traits: fc.record({ name: fc.constantFrom('A', 'B') }, { requiredKeys: [] }),
          timestamp: time,
        }),
      );
      /** An order to send the messages in (some twice, as retries) and where each commit ends. */
      const delivery = (n: number) =>
        fc
          .record({
            retries: fc.subarray([...Array(n).keys()], { maxLength: Math.min(3, n) }),
            cuts: fc.uniqueArray(fc.integer({ min: 1, max: n + 2 }), { maxLength: 4 }),
            seed: fc.integer(),
          })
          .map(({ retries, cuts, seed }) => {
            const order = shuffle([...Array(n).keys(), ...retries], seed);
            const ends = [...cuts.filter((c) => c < order.length).sort((x, y) => x - y), order.length];
            return ends.map((end, i) => order.slice(i === 0 ? 0 : ends[i - 1], end));
          });
      const scenario = fc.array(message, { minLength: 1, maxLength: 12 }).chain((messages) =>
        fc.record({
          messages: fc.constant(messages),
          first: delivery(messages.length),
          second: delivery(messages.length),
        }),
      );

      const noLimit = rules({ maxUserIdsPerProfile: 1_000 });
      const universe = [
        ...USERS.map((v) => ['user_id', v] as const),
        ...ANONS.map((v) => ['anonymous_id', v] as const),
        ...['ann@example.com', 'bob@example.com'].map((v) => ['email', v] as const),
      ];

      const apply = async (messages: readonly JsonObject[], commits: number[][]): Promise<WorkspaceId> => {
        const ws = newWorkspace();
        const source = newSource();
        const events = messages.map((m, i) => {
          const { type, person, ...rest } = m as { type: EventType; person?: JsonObject };
          return normalizeMessage({ ...rest, ...person, messageId: `m-${i}` }, type, {
            workspaceId: ws,
            sourceId: source,
            receivedAt: T0 + 1000 * MINUTE + i,
            newMessageId: () => randomUUID(),
          });
        });
        for (const commit of commits) {
          // Each commit as one or two requests.
          const evs = commit.map((i) => events[i]!);
          const half = Math.floor(evs.length / 2);
          await store.appendEvents(evs.length > 1 ? [evs.slice(0, half), evs.slice(half)] : [evs], noLimit);
        }
        return ws;
      };

      const content = async (ws: WorkspaceId) => {
        const profiles = new Map<string, Profile>();
        for (const [kind, value] of universe) {
          const p = await store.findProfile(ws, kind, value);
          if (p) profiles.set(p.id, p);
        }
        const described = [];
        for (const p of profiles.values()) {
          const exported = await store.exportProfile(ws, p.id);
          described.push({
            userIds: sorted(p.userIds),
            anonymousIds: sorted(p.anonymousIds),
            emails: sorted(p.identifiers.email ?? []),
            traits: p.traits,
            consent: p.consent,
            groups: exported?.groups,
            events: sorted((await allEvents(store, ws, p.id)).map((e) => e.messageId)),
          });
        }
        described.sort((x, y) => JSON.stringify(x.events).localeCompare(JSON.stringify(y.events)));
        return { profiles: described, counts: await store.counts(ws) };
      };

      await fc.assert(
        fc.asyncProperty(scenario, async ({ messages, first, second }) => {
          const a = await apply(messages as JsonObject[], first);
          const b = await apply(messages as JsonObject[], second);
          const [ca, cb] = [await content(a), await content(b)];
          assert.deepStrictEqual(cb, ca);
          assert.equal(ca.counts.events, messages.length);
        }),
        { numRuns: dialect.name === 'postgres' ? 60 : 100 },
      );
    });
  });
}

/** A deterministic Fisher–Yates shuffle. */
function shuffle<T>(items: T[], seed: number): T[] {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
