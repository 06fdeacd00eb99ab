/**
 * `concierge import`: NDJSON of Segment messages and CSV of profiles go through the same checks as
 * the HTTP API; an invalid file imports nothing unless --skip-invalid; re-running a file stores
 * nothing twice; a running server on the same data directory is never written behind its back.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { findProfile, type ServerProcess, spawnServer, status, timeline } from '../helpers/server.ts';
import { DataDirs, eventCount, importSummary, runCli, traitsOfUser, withDb } from './cli.ts';

const dirs = new DataDirs();
after(() => dirs.removeAll());

const ndjson = (messages: readonly unknown[]): string =>
  `${messages.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join('\n')}\n`;

function writeFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function storedMessageIds(dataDir: string): string[] {
  return withDb(dataDir, (db) =>
    (db.prepare('SELECT message_id FROM events ORDER BY seq').all() as { message_id: string }[]).map(
      (r) => r.message_id,
    ),
  );
}

const at = (minute: number): string => new Date(Date.UTC(2026, 0, 5, 9, minute)).toISOString();

/** Three people: two known by userId (one with an e-mail), one anonymous who later signs up. */
const PEOPLE_FILE = [
  {
    type: 'identify',
    messageId: 'imp-1',
    userId: 'alice',
    timestamp: at(0),
    traits: { email: 'alice@example.com', plan: 'pro', first_name: 'Alice' },
  },
  {
    type: 'track',
    messageId: 'imp-2',
    userId: 'alice',
    timestamp: at(1),
    event: 'Product Viewed',
    properties: { sku: 'A-1' },
  },
  {
    type: 'track',
    messageId: 'imp-3',
    userId: 'alice',
    timestamp: at(2),
    event: 'Order Completed',
    properties: { order_id: 'o-1', revenue: 42.5 },
  },
  { type: 'identify', messageId: 'imp-4', userId: 'bob', timestamp: at(3), traits: { plan: 'free' } },
  { type: 'track', messageId: 'imp-5', userId: 'bob', timestamp: at(4), event: 'Signed Up' },
  {
    type: 'page',
    messageId: 'imp-6',
    anonymousId: 'anon-carol',
    timestamp: at(5),
    name: 'Pricing',
    properties: { path: '/pricing' },
  },
  {
    type: 'identify',
    messageId: 'imp-7',
    userId: 'carol',
    anonymousId: 'anon-carol',
    timestamp: at(6),
    traits: { plan: 'trial' },
  },
  // No messageId: the import gives it one that stays the same on every run of this file.
  { type: 'track', userId: 'bob', timestamp: at(7), event: 'Cart Viewed', properties: { items: 2 } },
];

describe('concierge import', () => {
  it('imports every valid NDJSON message, and re-running the same file stores nothing new', async () => {
    const data = await dirs.initialized();
    const file = writeFile(data, 'people.ndjson', ndjson(PEOPLE_FILE));
    const n = PEOPLE_FILE.length;

    const first = await runCli(['import', file, '--data', data]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(importSummary(first.stderr), { imported: n, alreadyStored: 0, invalid: 0 });

    const again = await runCli(['import', file, '--data', data]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(importSummary(again.stderr), { imported: 0, alreadyStored: n, invalid: 0 });

    const ids = storedMessageIds(data);
    assert.equal(ids.length, n, 'each line is stored exactly once after two runs');
    assert.equal(new Set(ids).size, n);
    const generated = ids.filter((id) => !id.startsWith('imp-'));
    assert.equal(generated.length, 1, 'the line without a messageId got an id of its own');
    assert.ok(generated[0] && generated[0].length > 0);

    // The server started on the same data directory serves what was imported.
    let server: ServerProcess | null = null;
    try {
      server = await spawnServer(data);
      const { url } = server;
      assert.equal((await status(url)).events, n);

      const alice = await findProfile(url, 'userId', 'alice');
      assert.ok(alice, 'alice has a profile');
      assert.deepEqual(alice.traits, { email: 'alice@example.com', plan: 'pro', first_name: 'Alice' });
      assert.equal((await findProfile(url, 'email', 'alice@example.com'))?.id, alice.id);
      const aliceEvents = await timeline(url, alice.id);
      assert.deepEqual(
        aliceEvents.map((e) => e.messageId),
        ['imp-3', 'imp-2', 'imp-1'],
        'newest first',
      );
      assert.equal(
        aliceEvents[0]?.properties && (aliceEvents[0].properties as { revenue: number }).revenue,
        42.5,
      );

      const bob = await findProfile(url, 'userId', 'bob');
      assert.ok(bob, 'bob has a profile');
      assert.deepEqual(bob.traits, { plan: 'free' });
      const bobEvents = await timeline(url, bob.id);
      assert.deepEqual(
        bobEvents.map((e) => e.event ?? e.type),
        ['Cart Viewed', 'Signed Up', 'identify'],
      );
      assert.equal(bobEvents[0]?.messageId, generated[0]);

      const carol = await findProfile(url, 'userId', 'carol');
      assert.ok(carol, 'carol has a profile');
      assert.equal((await findProfile(url, 'anonymousId', 'anon-carol'))?.id, carol.id);
      assert.deepEqual(carol.anonymousIds, ['anon-carol']);
      assert.deepEqual(
        (await timeline(url, carol.id)).map((e) => e.messageId),
        ['imp-7', 'imp-6'],
        'the anonymous page view belongs to carol once she identifies',
      );
    } finally {
      await server?.kill('SIGTERM');
    }
  });

  it('imports nothing from a file with a malformed line and an invalid message, naming both line numbers', async () => {
    const data = await dirs.initialized();
    const file = writeFile(
      data,
      'mixed.ndjson',
      ndjson([
        { type: 'track', messageId: 'ok-1', userId: 'dave', event: 'Product Viewed', timestamp: at(0) },
        '{"type":"track","userId":"dave",',
        { type: 'track', messageId: 'ok-3', userId: 'dave', event: 'Cart Viewed', timestamp: at(1) },
        { type: 'track', messageId: 'bad-4', userId: 'dave', timestamp: at(2) },
        { type: 'identify', messageId: 'ok-5', userId: 'dave', traits: { plan: 'pro' }, timestamp: at(3) },
      ]),
    );
    const r = await runCli(['import', file, '--data', data]);
    assert.notEqual(r.code, 0, 'exits non-zero');
    assert.match(r.stderr, /\bline 2\b/, `names the malformed line:\n${r.stderr}`);
    assert.match(r.stderr, /\bline 4\b/, `names the invalid message:\n${r.stderr}`);
    for (const good of [1, 3, 5])
      assert.doesNotMatch(r.stderr, new RegExp(`\\bline ${good}\\b`), `line ${good} is valid`);
    assert.ok(!r.errLines.some((l) => l.startsWith('imported')), 'prints no import summary');
    assert.match(r.errLines.at(-1) ?? '', /^concierge: .*import/, 'ends with one clear error line');
    assert.equal(eventCount(data), 0, 'nothing was stored');
    assert.equal(traitsOfUser(data, 'dave'), null, 'no profile was created');
  });

  it('with --skip-invalid imports the valid lines and reports the invalid ones by line number', async () => {
    const data = await dirs.initialized();
    const file = writeFile(
      data,
      'mixed.ndjson',
      ndjson([
        { type: 'track', messageId: 'ok-1', userId: 'erin', event: 'Product Viewed', timestamp: at(0) },
        'not json at all',
        { type: 'track', messageId: 'ok-3', userId: 'erin', event: 'Cart Viewed', timestamp: at(1) },
        { type: 'identify', messageId: 'bad-4', userId: 'erin', traits: 'pro', timestamp: at(2) },
        { type: 'identify', messageId: 'ok-5', userId: 'erin', traits: { plan: 'pro' }, timestamp: at(3) },
      ]),
    );
    const r = await runCli(['import', file, '--data', data, '--skip-invalid']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(importSummary(r.stderr), { imported: 3, alreadyStored: 0, invalid: 2 });
    assert.match(r.stderr, /\bline 2\b/);
    assert.match(r.stderr, /\bline 4\b/);
    assert.deepEqual(storedMessageIds(data).sort(), ['ok-1', 'ok-3', 'ok-5']);
    assert.deepEqual(traitsOfUser(data, 'erin'), { plan: 'pro' });
  });

  it('creates profiles from a CSV with --type identify, turning numbers into numbers but keeping zip codes with a leading zero as text', async () => {
    const data = await dirs.initialized();
    const file = writeFile(
      data,
      'profiles.csv',
      [
        'userId,email,first_name,plan,age,zip',
        'csv-1,one@example.com,Ann,pro,34,01234',
        'csv-2,two@example.com,Bob,free,41.5,90210',
        'csv-3,three@example.com,"Cy, Jr.",enterprise,,02139',
        '',
      ].join('\n'),
    );
    const r = await runCli(['import', file, '--type', 'identify', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(importSummary(r.stderr), { imported: 3, alreadyStored: 0, invalid: 0 });
    assert.deepEqual(traitsOfUser(data, 'csv-1'), {
      email: 'one@example.com',
      first_name: 'Ann',
      plan: 'pro',
      age: 34,
      zip: '01234',
    });
    assert.deepEqual(traitsOfUser(data, 'csv-2'), {
      email: 'two@example.com',
      first_name: 'Bob',
      plan: 'free',
      age: 41.5,
      zip: 90210,
    });
    // An empty cell sets no trait; a quoted comma stays in the value.
    assert.deepEqual(traitsOfUser(data, 'csv-3'), {
      email: 'three@example.com',
      first_name: 'Cy, Jr.',
      plan: 'enterprise',
      zip: '02139',
    });
  });

  it('reads a semicolon-separated CSV of profiles too', async () => {
    const data = await dirs.initialized();
    const file = writeFile(
      data,
      'profiles.csv',
      [
        'userId;email;first_name;plan;age',
        'semi-1;s1@example.com;Émile;pro;29',
        'semi-2;s2@example.com;Zoë;free;52',
        '',
      ].join('\n'),
    );
    const r = await runCli(['import', file, '--type', 'identify', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(importSummary(r.stderr), { imported: 2, alreadyStored: 0, invalid: 0 });
    assert.deepEqual(traitsOfUser(data, 'semi-1'), {
      email: 's1@example.com',
      first_name: 'Émile',
      plan: 'pro',
      age: 29,
    });
    assert.deepEqual(traitsOfUser(data, 'semi-2'), {
      email: 's2@example.com',
      first_name: 'Zoë',
      plan: 'free',
      age: 52,
    });
  });

  it('detects the CSV separator once per file, so commas inside the values of a semicolon-separated file stay text', async () => {
    const data = await dirs.initialized();
    // Semicolons are used precisely so that commas can appear in values unquoted.
    const file = writeFile(
      data,
      'semi.csv',
      ['userId;name;address', 'sep-1;Doe, John;12 Main St, Springfield', ''].join('\n'),
    );
    const r = await runCli(['import', file, '--type', 'identify', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(traitsOfUser(data, 'sep-1'), { name: 'Doe, John', address: '12 Main St, Springfield' });
  });

  it('reports a CSV row with the wrong number of cells by its line number, and with --skip-invalid imports every other row', async () => {
    const data = await dirs.initialized();
    const file = writeFile(
      data,
      'ragged.csv',
      ['userId,plan', 'rag-1,pro', 'rag-2,free,surplus', 'rag-3,pro', 'rag-4,free', ''].join('\n'),
    );
    const strict = await runCli(['import', file, '--type', 'identify', '--data', data]);
    assert.notEqual(strict.code, 0);
    assert.match(
      strict.stderr,
      /^\s*line 3:/m,
      `names the ragged row (line 3 of the file):\n${strict.stderr}`,
    );
    assert.equal(eventCount(data), 0);

    const skip = await runCli(['import', file, '--type', 'identify', '--data', data, '--skip-invalid']);
    assert.equal(skip.code, 0, skip.stderr);
    assert.match(skip.stderr, /^\s*line 3:/m, skip.stderr);
    assert.deepEqual(importSummary(skip.stderr), { imported: 3, alreadyStored: 0, invalid: 1 });
    for (const id of ['rag-1', 'rag-3', 'rag-4'])
      assert.deepEqual(traitsOfUser(data, id), { plan: id === 'rag-4' ? 'free' : 'pro' }, `${id} imported`);
  });

  it('keeps the original time of historical messages that carry sentAt, as exported from another system', async () => {
    const data = await dirs.initialized();
    // A message as archived by Segment: sent and received seconds after it happened, long ago.
    const file = writeFile(
      data,
      'archive.ndjson',
      ndjson([
        {
          type: 'track',
          messageId: 'hist-1',
          userId: 'hank',
          event: 'Order Completed',
          timestamp: '2024-03-01T10:00:00.000Z',
          sentAt: '2024-03-01T10:00:05.000Z',
          receivedAt: '2024-03-01T10:00:06.000Z',
        },
      ]),
    );
    const r = await runCli(['import', file, '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    const body = withDb(data, (db) => {
      const row = db.prepare("SELECT body FROM events WHERE message_id = 'hist-1'").get() as
        | { body: string }
        | undefined;
      assert.ok(row, 'the message is stored');
      return JSON.parse(row.body) as { timestamp: string };
    });
    const drift = Math.abs(Date.parse(body.timestamp) - Date.parse('2024-03-01T10:00:00.000Z'));
    assert.ok(
      drift <= 60_000,
      `stored at ${body.timestamp}, expected within a minute of 2024-03-01T10:00:00Z`,
    );
  });

  it('fails with one clear line and a non-zero exit when the file does not exist', async () => {
    const data = await dirs.initialized();
    const missing = join(data, 'no-such-file.ndjson');
    const r = await runCli(['import', missing, '--data', data]);
    assert.notEqual(r.code, 0);
    assert.equal(r.errLines.length, 1, r.stderr);
    assert.match(r.errLines[0] ?? '', /^concierge: .*no-such-file\.ndjson/);
    assert.doesNotMatch(r.stderr, /\bat .+:\d+:\d+/, 'no stack trace');
  });

  it('refuses to import while a server runs on the same data directory', async () => {
    const data = await dirs.initialized();
    const file = writeFile(
      data,
      'one.ndjson',
      ndjson([{ type: 'track', messageId: 'busy-1', userId: 'frank', event: 'Signed Up', timestamp: at(0) }]),
    );
    const server = await spawnServer(data);
    try {
      const r = await runCli(['import', file, '--data', data]);
      assert.notEqual(r.code, 0);
      assert.equal(r.errLines.length, 1, r.stderr);
      assert.match(r.errLines[0] ?? '', /^concierge: .*server.*running/i);
      assert.equal((await status(server.url)).events, 0, 'nothing was written behind the server');
    } finally {
      await server.kill('SIGTERM');
    }
    // Once the server has stopped, the same import goes through.
    const r = await runCli(['import', file, '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(importSummary(r.stderr), { imported: 1, alreadyStored: 0, invalid: 0 });
  });

  it('imports into a data directory that no server has used yet', async () => {
    const data = join(dirs.empty(), 'fresh');
    const file = writeFile(
      dirs.empty(),
      'one.ndjson',
      ndjson([
        { type: 'identify', messageId: 'new-1', userId: 'gina', traits: { plan: 'pro' }, timestamp: at(0) },
        { type: 'track', messageId: 'new-2', userId: 'gina', event: 'Signed Up', timestamp: at(1) },
      ]),
    );
    const r = await runCli(['import', file, '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(importSummary(r.stderr), { imported: 2, alreadyStored: 0, invalid: 0 });
    assert.ok(existsSync(join(data, 'concierge.db')));
    assert.deepEqual(traitsOfUser(data, 'gina'), { plan: 'pro' });
  });
});
