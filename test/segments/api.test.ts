/**
 * Segments and computed traits through the public HTTP API, with a virtual clock: definitions are
 * checked with path-precise errors, membership follows events at once, windows slide by themselves
 * when the clock moves, changes are announced as `Segment Entered` / `Segment Exited` events, and a
 * restart recomputes membership without announcing anything twice.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { VirtualClock } from '../../src/core/clock.ts';
import { eventually } from '../helpers/eventually.ts';
import {
  ADMIN_TOKEN,
  admin,
  findProfile,
  type InProcessServer,
  type ProfileBody,
  postTracking,
  type StoredEventBody,
  startApp,
  tempDir,
  timeline,
  uid,
} from '../helpers/server.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const iso = (t: number) => new Date(t).toISOString();

type SegmentBody = { key: string; definition: unknown; size: number; status: string };
type Invalid = { error: string; message: string; errors: { path: string; message: string }[] };

const segmentEvents = (events: StoredEventBody[], key: string) =>
  events
    .filter((e) => (e.properties as Record<string, unknown> | undefined)?.segment_key === key)
    .map((e) => e.event as string)
    .reverse();

describe('segments over HTTP', () => {
  const dataDir = tempDir();
  const clock = new VirtualClock(T0);
  let server: InProcessServer;
  const size = async (key: string) =>
    (await admin<SegmentBody>(server.url, 'GET', `/api/segments/${key}`)).body.size;
  const profile = async (userId: string) => (await findProfile(server.url, 'userId', userId)) as ProfileBody;
  const track = async (userId: string, event: string, properties: Record<string, unknown>, at: number) => {
    const r = await postTracking(server.url, '/v1/track', { userId, event, properties, timestamp: iso(at) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };

  before(async () => {
    server = await startApp({ clock, dataDir, keepData: true });
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('bad definitions are refused with the path of each problem', async () => {
    const put = (key: string, body: unknown) =>
      admin<Invalid>(server.url, 'PUT', `/api/segments/${key}`, body);
    const cases: [unknown, string, RegExp][] = [
      [{ all: [{ trait: 'plan', op: 'equals', value: 'pro' }] }, 'all[0].op', /must be one of eq, neq/],
      [{ trait: 'age', op: 'gt', value: 'old' }, 'value', /must be a number/],
      [{ event: 'Order Completed', within: '30 days' }, 'within', /duration such as "30d"/],
      [{ event: 'Order Completed', count: { op: 'gte', value: -1 } }, 'count.value', /whole number/],
      [{ any: [] }, 'any', /non-empty array/],
      [
        { event: 'A', where: [{ property: 'x', op: 'within_last', value: '1d' }] },
        'where[0].op',
        /date traits/,
      ],
      [{ trait: 'plan', op: 'eq', value: 'pro', extra: 1 }, 'extra', /not an allowed key/],
      [{ sequence: [{ event: 'A' }] }, 'sequence', /at least two steps/],
      [{ segment: 'no-such-segment' }, 'segment', /does not exist/],
      [
        {
          any: [
            { trait: 'plan', op: 'exists' },
            { computed: 'no-such-trait', op: 'gt', value: 1 },
          ],
        },
        'any[1].computed',
        /does not exist/,
      ],
      [{ trait: 'plan', value: 'pro' }, 'op', /^is missing \(it must be one of eq, /],
      [[1, 2], '', /condition object/],
    ];
    for (const [definition, path, message] of cases) {
      const r = await put('bad', definition);
      assert.equal(r.status, 400, JSON.stringify(definition));
      assert.equal(r.body.error, 'invalid_definition');
      const e = r.body.errors.find((x) => x.path === path);
      assert.ok(
        e,
        `${JSON.stringify(definition)}: no error at "${path}" in ${JSON.stringify(r.body.errors)}`,
      );
      assert.match(e.message, message);
    }
    assert.equal((await put('bad key!', { trait: 'a', op: 'exists' })).status, 400);

    // A cycle is named, and nothing of the refused definition is kept.
    assert.equal((await put('cycle-a', { trait: 'x', op: 'exists' })).status, 201);
    assert.equal((await put('cycle-b', { segment: 'cycle-a' })).status, 201);
    const cycle = await put('cycle-a', { segment: 'cycle-b' });
    assert.equal(cycle.status, 400);
    assert.match(cycle.body.message, /cycle: cycle-a → cycle-b → cycle-a/);
    assert.deepEqual((await admin<SegmentBody>(server.url, 'GET', '/api/segments/cycle-a')).body.definition, {
      trait: 'x',
      op: 'exists',
    });
    // A segment another one refers to cannot be deleted.
    const del = await admin<{ message: string }>(server.url, 'DELETE', '/api/segments/cycle-a');
    assert.equal(del.status, 409);
    assert.match(del.body.message, /cycle-b/);
    assert.equal((await admin(server.url, 'DELETE', '/api/segments/cycle-b')).status, 200);
    assert.equal((await admin(server.url, 'DELETE', '/api/segments/cycle-a')).status, 200);
    assert.equal((await admin(server.url, 'GET', '/api/segments/cycle-a')).status, 404);
    assert.equal((await admin(server.url, 'DELETE', '/api/segments/cycle-a')).status, 404);
  });

  test('membership follows events at once and leaves by itself when the window slides past', async () => {
    const ann = uid('ann');
    const r = await admin<SegmentBody>(server.url, 'PUT', '/api/segments/recent-big-buyers', {
      event: 'Order Completed',
      where: [{ property: 'revenue', op: 'gt', value: 50 }],
      within: '30d',
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.status, 'ready');
    const base = await size('recent-big-buyers');

    await track(ann, 'Order Completed', { revenue: 20 }, clock.now());
    assert.deepEqual((await profile(ann)).segments, []);
    await track(ann, 'Order Completed', { revenue: 80 }, clock.now() - 2 * DAY);
    await eventually(
      'ann enters',
      () => size('recent-big-buyers'),
      (n) => n === base + 1,
    );
    assert.deepEqual((await profile(ann)).segments, ['recent-big-buyers']);
    const p = await profile(ann);
    await eventually(
      'Segment Entered is on the timeline',
      async () => segmentEvents(await timeline(server.url, p.id), 'recent-big-buyers'),
      (e) => e.length === 1,
    );
    const members = await admin<{ members: string[] }>(
      server.url,
      'GET',
      '/api/segments/recent-big-buyers/members',
    );
    assert.ok(members.body.members.includes(p.id));

    // With include=profiles a page also says who its members are, in the same order.
    const who = await admin<{
      members: string[];
      profiles: { id: string; userIds: string[]; identifiers: Record<string, string[]>; traits: object }[];
    }>(server.url, 'GET', '/api/segments/recent-big-buyers/members?include=profiles');
    assert.equal(who.status, 200);
    assert.deepEqual(
      who.body.profiles.map((m) => m.id),
      who.body.members,
    );
    const described = who.body.profiles.find((m) => m.id === p.id)!;
    assert.deepEqual(described.userIds, [ann]);
    const wrong = await admin<Invalid>(
      server.url,
      'GET',
      '/api/segments/recent-big-buyers/members?include=all',
    );
    assert.equal(wrong.status, 400);
    assert.match(wrong.body.message, /include must be "profiles"/);

    // The same members as CSV, every page of them, with the traits asked for as columns.
    await postTracking(server.url, '/v1/identify', {
      userId: ann,
      traits: { email: `${ann}@example.com`, plan: 'pro, yearly', note: '=HYPERLINK("x")' },
    });
    const csv = await fetch(
      `${server.url}/api/segments/recent-big-buyers/members.csv?traits=plan,note,missing`,
      {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      },
    );
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(csv.headers.get('content-disposition') ?? '', /filename="recent-big-buyers.csv"/);
    const lines = (await csv.text()).split('\r\n');
    assert.equal(lines[0], 'profile_id,user_id,anonymous_id,email,plan,note,missing');
    assert.equal(lines.length - 2, who.body.members.length, 'a line per member, and the last line ends');
    assert.ok(
      lines.includes(`${p.id},${ann},,${ann}@example.com,"pro, yearly","'=HYPERLINK(""x"")",`),
      lines.join('\n'),
    );
    const none = await fetch(`${server.url}/api/segments/no-such-segment/members.csv`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(none.status, 404);
    const anonymous = await fetch(`${server.url}/api/segments/recent-big-buyers/members.csv`);
    assert.equal(anonymous.status, 401);

    // 28 days later the 80 order is 30 days old: the window has slid past it.
    clock.advance(27 * DAY);
    assert.deepEqual((await profile(ann)).segments, ['recent-big-buyers']);
    clock.advance(1 * DAY);
    await eventually(
      'ann leaves',
      () => size('recent-big-buyers'),
      (n) => n === base,
    );
    assert.deepEqual((await profile(ann)).segments, []);
    const announced = await eventually(
      'Segment Exited is on the timeline',
      async () => segmentEvents(await timeline(server.url, p.id), 'recent-big-buyers'),
      (e) => e.length === 2,
    );
    assert.deepEqual(announced, ['Segment Entered', 'Segment Exited']);

    // The announcement latency is reported whole and in its two parts: the engine's, the store's.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const stat = (name: string, field: 'count' | 'sum') =>
      Number(new RegExp(`^concierge_segment_${name}_seconds_${field} (\\S+)$`, 'm').exec(metrics)?.[1]);
    const count = (name: string) => stat(name, 'count');
    const sum = (name: string) => stat(name, 'sum');
    const announces = count('announce');
    assert.ok(announces >= 2, `${announces} announcements observed`);
    assert.equal(count('evaluate'), announces);
    assert.equal(count('store'), announces);
    const parts = sum('evaluate') + sum('store');
    assert.ok(Math.abs(parts - sum('announce')) < 1e-6, 'the parts add up');
    // The same observations as a histogram, whose buckets can be read twice and subtracted.
    assert.equal(count('announcement'), announces);
    assert.ok(Math.abs(sum('announcement') - sum('announce')) < 1e-6);
    const inf = Number(
      /^concierge_segment_announcement_seconds_bucket\{le="\+Inf"\} (\S+)$/m.exec(metrics)?.[1],
    );
    assert.equal(inf, announces);
  });

  test('"did not" segments, segment references, traits and YAML bodies', async () => {
    const bo = uid('bo');
    const yaml = [
      'all:',
      '  - trait: plan',
      '    op: in',
      '    value: [pro, team]',
      '  - event: Order Completed',
      '    count: { op: eq, value: 0 }',
      '    within: 7d',
    ].join('\n');
    const res = await fetch(`${server.url}/api/segments/paying-not-buying`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/yaml' },
      body: yaml,
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(
      (
        await admin(server.url, 'PUT', '/api/segments/paying-not-buying-vip', {
          all: [{ segment: 'paying-not-buying' }, { trait: 'vip', op: 'eq', value: true }],
        })
      ).status,
      201,
    );
    assert.equal(
      (await postTracking(server.url, '/v1/identify', { userId: bo, traits: { plan: 'pro' } })).status,
      200,
    );
    await eventually(
      'bo has not bought',
      async () => (await profile(bo)).segments,
      (s) => s.includes('paying-not-buying'),
    );
    assert.ok(!(await profile(bo)).segments.includes('paying-not-buying-vip'));
    await postTracking(server.url, '/v1/identify', { userId: bo, traits: { vip: true } });
    await eventually(
      'bo is a vip',
      async () => (await profile(bo)).segments,
      (s) => s.includes('paying-not-buying-vip'),
    );
    await track(bo, 'Order Completed', { revenue: 10 }, clock.now());
    await eventually(
      'bo bought',
      async () => (await profile(bo)).segments,
      (s) => s.length === 0,
    );
    clock.advance(7 * DAY);
    await eventually(
      'a week later bo has not bought again',
      async () => (await profile(bo)).segments,
      (s) => s.includes('paying-not-buying') && s.includes('paying-not-buying-vip'),
    );
  });

  test('computed traits: lifetime value, purchase interval and the predicted next purchase', async () => {
    const cy = uid('cy');
    const put = (key: string, body: unknown) => admin(server.url, 'PUT', `/api/computed-traits/${key}`, body);
    assert.equal(
      (await put('lifetime_value', { event: 'Order Completed', aggregate: 'sum', property: 'revenue' }))
        .status,
      201,
    );
    assert.equal(
      (await put('purchase_interval_days', { event: 'Order Completed', aggregate: 'purchase_interval' }))
        .status,
      201,
    );
    assert.equal(
      (await put('next_purchase', { event: 'Order Completed', aggregate: 'next_purchase' })).status,
      201,
    );
    assert.equal(
      (await put('favourite_shoe', { event: 'Order Completed', aggregate: 'most_frequent', property: 'sku' }))
        .status,
      201,
    );
    const bad = await admin<Invalid>(server.url, 'PUT', '/api/computed-traits/x', {
      event: 'A',
      aggregate: 'median',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0]!.path, 'aggregate');

    const now = clock.now();
    await track(cy, 'Order Completed', { revenue: 100, sku: 'run-1' }, now - 60 * DAY);
    await track(cy, 'Order Completed', { revenue: 120, sku: 'run-1' }, now - 30 * DAY);
    await track(cy, 'Order Completed', { revenue: 90, sku: 'trail-2' }, now - 2 * DAY);
    const computed = await eventually(
      'computed traits',
      async () => (await profile(cy)).computed,
      (c) => c.lifetime_value === 310,
    );
    assert.equal(computed.purchase_interval_days, 29);
    assert.equal(computed.next_purchase, iso(now - 2 * DAY + 29 * DAY));
    assert.equal(computed.favourite_shoe, 'run-1');

    // A segment on a computed trait: customers due to repurchase within the next week.
    assert.equal(
      (
        await admin(server.url, 'PUT', '/api/segments/big-spenders', {
          computed: 'lifetime_value',
          op: 'gte',
          value: 300,
        })
      ).status,
      201,
    );
    const p = await profile(cy);
    assert.ok(p.segments.includes('big-spenders'));
    // A segment's first computation is its starting point: existing members are not announced.
    assert.deepEqual(segmentEvents(await timeline(server.url, p.id), 'big-spenders'), []);
    const del = await admin(server.url, 'DELETE', '/api/computed-traits/lifetime_value');
    assert.equal(del.status, 409);
  });

  test('after a restart membership is the same and nothing is announced twice', async () => {
    const before = await admin<{ segments: SegmentBody[] }>(server.url, 'GET', '/api/segments');
    const sizes = Object.fromEntries(before.body.segments.map((s) => [s.key, s.size]));
    const counts = (await admin<{ events: number }>(server.url, 'GET', '/api/status')).body.events;
    await server.close();
    server = await startApp({ clock, dataDir, keepData: true });
    await eventually(
      'segments recomputed',
      async () =>
        (await admin<{ segments: SegmentBody[] }>(server.url, 'GET', '/api/segments')).body.segments,
      (s) => s.every((x) => x.status === 'ready'),
    );
    const again = await admin<{ segments: SegmentBody[] }>(server.url, 'GET', '/api/segments');
    assert.deepEqual(Object.fromEntries(again.body.segments.map((s) => [s.key, s.size])), sizes);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await admin<{ events: number }>(server.url, 'GET', '/api/status')).body.events, counts);
  });
});

describe('the first definition on a server that followed no segments', () => {
  const dataDir = tempDir();
  const clock = new VirtualClock(T0);
  let server: InProcessServer;
  before(async () => {
    server = await startApp({ clock, dataDir });
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('is computed from the whole log: people, traits, merges and events from before it', async () => {
    const [ann, bo, cy] = [uid('ann'), uid('bo'), uid('cy')];
    const anon = uid('anon');
    const send = async (path: string, body: unknown) =>
      assert.equal((await postTracking(server.url, path, body)).status, 200);
    // Bo browses anonymously and buys, then identifies: the order is merged into bo's profile.
    await send('/v1/track', { anonymousId: anon, event: 'Order Completed', properties: { revenue: 90 } });
    await send('/v1/identify', { anonymousId: anon, userId: bo, traits: { plan: 'pro' } });
    await send('/v1/identify', { userId: ann, traits: { plan: 'pro' } });
    await send('/v1/identify', { userId: cy, traits: { plan: 'free' } });
    await send('/v1/page', { userId: cy, name: 'Home' });

    const put = async (key: string, definition: unknown) =>
      assert.equal((await admin(server.url, 'PUT', `/api/segments/${key}`, definition)).status, 201);
    // Reads no trait: only a scan of every profile finds the people who never bought.
    await put('not-buying', { event: 'Order Completed', count: { op: 'eq', value: 0 } });
    await put('buyers', { event: 'Order Completed' });
    const segmentsOf = async (userId: string) =>
      ((await findProfile(server.url, 'userId', userId)) as ProfileBody).segments;
    await eventually(
      'computed',
      async () => [await segmentsOf(ann), await segmentsOf(bo), await segmentsOf(cy)],
      (s) => JSON.stringify(s) === JSON.stringify([['not-buying'], ['buyers'], ['not-buying']]),
    );
    // From here on, commits are followed live.
    await send('/v1/track', { userId: ann, event: 'Order Completed', properties: { revenue: 5 } });
    await eventually(
      'ann bought',
      () => segmentsOf(ann),
      (s) => JSON.stringify(s) === JSON.stringify(['buyers']),
    );
  });
});

describe('a change for a person the engine knows by traits alone', () => {
  const dataDir = tempDir();
  const clock = new VirtualClock(T0);
  let server: InProcessServer;
  const profile = async (userId: string) => (await findProfile(server.url, 'userId', userId)) as ProfileBody;
  before(async () => {
    server = await startApp({ clock, dataDir, keepData: true });
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('is announced under the identity the store holds', async () => {
    const dee = uid('dee');
    const put = await admin(server.url, 'PUT', '/api/segments/new-signups', {
      trait: 'signed_up',
      op: 'within_last',
      value: '7d',
    });
    assert.equal(put.status, 201);
    const r = await postTracking(server.url, '/v1/identify', {
      userId: dee,
      traits: { signed_up: iso(T0 - DAY) },
    });
    assert.equal(r.status, 200);
    const p = await profile(dee);
    await eventually(
      'Segment Entered is on the timeline',
      async () => segmentEvents(await timeline(server.url, p.id), 'new-signups'),
      (e) => e.length === 1,
    );

    // After a restart the engine knows dee from the profile's traits, with no event that names
    // an identity: when the window slides past the sign-up, the identity comes from the store.
    await server.close();
    server = await startApp({ clock, dataDir, keepData: true });
    await eventually(
      'segments recomputed',
      async () => (await admin<SegmentBody>(server.url, 'GET', '/api/segments/new-signups')).body,
      (s) => s.status === 'ready' && s.size === 1,
    );
    clock.advance(7 * DAY);
    const announced = await eventually(
      'Segment Exited is on the timeline',
      async () => (await timeline(server.url, p.id)).filter((e) => e.event === 'Segment Exited'),
      (e) => e.length === 1,
    );
    assert.equal(announced[0]!.userId, dee);
    assert.equal((await profile(dee)).segments.length, 0);
  });
});
