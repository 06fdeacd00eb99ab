/**
 * Bad input to the tracking API: every malformed, mistyped, oversized or hostile request gets the
 * documented status and a `{"success":false,"errors":[{index?,path,message}]}` body that names the
 * problem, nothing of it is stored, and the server keeps serving. A property test then throws
 * arbitrary bodies at every route.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { type InProcessServer, postTracking, startApp, status, uid } from '../helpers/server.ts';

interface ErrorItem {
  index?: number;
  path: string;
  message: string;
}
interface ErrorBody {
  success: false;
  errors: ErrorItem[];
}

/** An error the response must contain: its path (exact or pattern) and a message pattern. */
interface Expected {
  index?: number;
  path: string | RegExp;
  message: RegExp;
}

interface Case {
  name: string;
  route: string;
  /** An object is sent as JSON; a string or bytes are sent as they are. */
  body: unknown;
  headers?: Record<string, string>;
  status: number;
  errors: Expected[];
  /** For batches: exactly these indexes must be named (and no others). */
  indexes?: number[];
}

const TRACK = { userId: 'u-bad', event: 'Valid Event' };
const item = (extra: Record<string, unknown> = {}) => ({ type: 'track', ...TRACK, ...extra });

function nested(depth: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

function nestedArrays(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Small gzip data that inflates to `bytes` of JSON-looking whitespace. */
function gzipBomb(bytes: number): Buffer {
  return gzipSync(
    Buffer.concat([
      Buffer.from('{"userId":"u","event":"E","x":"'),
      Buffer.alloc(bytes, 0x61),
      Buffer.from('"}'),
    ]),
    {
      level: 9,
    },
  );
}

const ISO_PROBLEM = /ISO 8601|date|time/i;

const CASES: Case[] = [
  // Bodies that are not a JSON object.
  {
    name: 'malformed JSON',
    route: '/v1/track',
    body: '{"userId":"u","event":',
    status: 400,
    errors: [{ path: '', message: /JSON/ }],
  },
  {
    name: 'malformed JSON in a batch',
    route: '/v1/batch',
    body: '{"batch":[{"type":"track",]}',
    status: 400,
    errors: [{ path: '', message: /JSON/ }],
  },
  {
    name: 'an empty body',
    route: '/v1/identify',
    body: '',
    status: 400,
    errors: [{ path: '', message: /empty/i }],
  },
  {
    name: 'a JSON array body',
    route: '/v1/track',
    body: '[{"userId":"u","event":"E"}]',
    status: 400,
    errors: [{ path: '', message: /object/i }],
  },
  {
    name: 'a JSON string body',
    route: '/v1/track',
    body: '"track"',
    status: 400,
    errors: [{ path: '', message: /object/i }],
  },
  {
    name: 'a JSON number body',
    route: '/v1/page',
    body: '42',
    status: 400,
    errors: [{ path: '', message: /object/i }],
  },
  {
    name: 'a JSON null body',
    route: '/v1/batch',
    body: 'null',
    status: 400,
    errors: [{ path: '', message: /object/i }],
  },

  // Wrong types.
  {
    name: 'event: 5',
    route: '/v1/track',
    body: { userId: 'u', event: 5 },
    status: 400,
    errors: [{ path: 'event', message: /string/i }],
  },
  {
    name: 'properties: []',
    route: '/v1/track',
    body: { ...TRACK, properties: [] },
    status: 400,
    errors: [{ path: 'properties', message: /object/i }],
  },
  {
    name: 'traits: "x"',
    route: '/v1/identify',
    body: { userId: 'u', traits: 'x' },
    status: 400,
    errors: [{ path: 'traits', message: /object/i }],
  },
  {
    name: 'userId: {}',
    route: '/v1/track',
    body: { userId: {}, event: 'E' },
    status: 400,
    errors: [{ path: 'userId', message: /string/i }],
  },
  {
    name: 'context: null',
    route: '/v1/page',
    body: { userId: 'u', context: null },
    status: 400,
    errors: [{ path: 'context', message: /object/i }],
  },
  {
    name: 'messageId: ""',
    route: '/v1/track',
    body: { ...TRACK, messageId: '' },
    status: 400,
    errors: [{ path: 'messageId', message: /empty/i }],
  },
  {
    name: 'a userId of 2,000 characters',
    route: '/v1/identify',
    body: { userId: 'u'.repeat(2000) },
    status: 400,
    errors: [{ path: 'userId', message: /long|characters/i }],
  },
  {
    name: 'a type that contradicts the route',
    route: '/v1/track',
    body: { ...TRACK, type: 'identify' },
    status: 400,
    errors: [{ path: 'type', message: /track/ }],
  },

  // Missing fields.
  {
    name: 'track without event',
    route: '/v1/track',
    body: { userId: 'u' },
    status: 400,
    errors: [{ path: 'event', message: /required/i }],
  },
  {
    name: 'no userId and no anonymousId',
    route: '/v1/track',
    body: { event: 'E' },
    status: 400,
    errors: [{ path: /^(userId|anonymousId)$/, message: /userId|anonymousId/ }],
  },
  {
    name: 'identify with empty userId and no anonymousId',
    route: '/v1/identify',
    body: { userId: '', traits: {} },
    status: 400,
    errors: [{ path: /^(userId|anonymousId)$/, message: /required|empty/i }],
  },
  {
    name: 'alias without previousId',
    route: '/v1/alias',
    body: { userId: 'u' },
    status: 400,
    errors: [{ path: 'previousId', message: /required/i }],
  },
  {
    name: 'alias without userId',
    route: '/v1/alias',
    body: { previousId: 'a' },
    status: 400,
    errors: [{ path: 'userId', message: /required/i }],
  },
  {
    name: 'group without groupId',
    route: '/v1/group',
    body: { userId: 'u', traits: {} },
    status: 400,
    errors: [{ path: 'groupId', message: /required/i }],
  },

  // Batches.
  {
    name: 'an unknown type in a batch item',
    route: '/v1/batch',
    body: { batch: [item(), { type: 'purchase', userId: 'u' }] },
    status: 400,
    errors: [{ index: 1, path: 'type', message: /identify.*track|type/ }],
    indexes: [1],
  },
  {
    name: 'a batch item without type',
    route: '/v1/batch',
    body: { batch: [{ userId: 'u', event: 'E' }] },
    status: 400,
    errors: [{ index: 0, path: 'type', message: /./ }],
    indexes: [0],
  },
  {
    name: '`batch` not an array',
    route: '/v1/batch',
    body: { batch: { type: 'track', ...TRACK } },
    status: 400,
    errors: [{ path: 'batch', message: /array/i }],
  },
  {
    name: '`batch` missing',
    route: '/v1/batch',
    body: { context: {} },
    status: 400,
    errors: [{ path: 'batch', message: /array|required/i }],
  },
  {
    name: 'an empty batch',
    route: '/v1/batch',
    body: { batch: [] },
    status: 400,
    errors: [{ path: 'batch', message: /empty/i }],
  },
  {
    name: 'a batch with some bad items',
    route: '/v1/batch',
    body: {
      batch: [
        item(),
        item({ event: 5 }),
        item({ type: 'page', name: 'Fine' }),
        { type: 'alias', userId: 'u' },
        'not an object',
        item({ timestamp: 'yesterday' }),
        { type: 'group', userId: 'u', groupId: 'g' },
      ],
    },
    status: 400,
    errors: [
      { index: 1, path: 'event', message: /string/i },
      { index: 3, path: 'previousId', message: /required/i },
      { index: 4, path: '', message: /object/i },
      { index: 5, path: 'timestamp', message: ISO_PROBLEM },
    ],
    indexes: [1, 3, 4, 5],
  },
  {
    // 120 bad items, each with two problems: the contract asks for every bad index to be named.
    name: 'a large batch where many items are bad',
    route: '/v1/batch',
    body: {
      batch: Array.from({ length: 300 }, (_, i) => (i % 5 < 2 ? item({ event: 5, properties: [] }) : item())),
    },
    status: 400,
    errors: [{ index: 0, path: 'event', message: /string/i }],
    indexes: Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 5 < 2),
  },
  {
    name: 'a batch-level context that is not an object',
    route: '/v1/batch',
    body: { context: [], batch: [item()] },
    status: 400,
    errors: [{ path: 'context', message: /object/i }],
  },

  // Timestamps.
  {
    name: 'timestamp "yesterday"',
    route: '/v1/track',
    body: { ...TRACK, timestamp: 'yesterday' },
    status: 400,
    errors: [{ path: 'timestamp', message: ISO_PROBLEM }],
  },
  {
    name: 'timestamp "2024-13-45T00:00:00Z"',
    route: '/v1/track',
    body: { ...TRACK, timestamp: '2024-13-45T00:00:00Z' },
    status: 400,
    errors: [{ path: 'timestamp', message: ISO_PROBLEM }],
  },
  {
    name: 'timestamp "2024-02-30T00:00:00Z" (no such day)',
    route: '/v1/track',
    body: { ...TRACK, timestamp: '2024-02-30T00:00:00Z' },
    status: 400,
    errors: [{ path: 'timestamp', message: ISO_PROBLEM }],
  },
  {
    name: 'a numeric timestamp',
    route: '/v1/track',
    body: { ...TRACK, timestamp: 1_700_000_000_000 },
    status: 400,
    errors: [{ path: 'timestamp', message: /string/i }],
  },
  {
    name: 'sentAt "soon"',
    route: '/v1/identify',
    body: { userId: 'u', sentAt: 'soon' },
    status: 400,
    errors: [{ path: 'sentAt', message: ISO_PROBLEM }],
  },
  {
    name: 'a batch-level sentAt "soon"',
    route: '/v1/batch',
    body: { sentAt: 'soon', batch: [item()] },
    status: 400,
    errors: [{ path: 'sentAt', message: ISO_PROBLEM }],
  },

  // Size limits.
  {
    name: 'an event over 32 KB',
    route: '/v1/track',
    body: { ...TRACK, properties: { blob: 'x'.repeat(33 * 1024) } },
    status: 400,
    errors: [{ path: /^(|properties.*)$/, message: /32768|32 KB|limit|large/i }],
  },
  {
    name: 'an event over 32 KB of multi-byte characters',
    route: '/v1/track',
    body: { ...TRACK, properties: { blob: '€'.repeat(12_000) } },
    status: 400,
    errors: [{ path: /^(|properties.*)$/, message: /32768|32 KB|limit|large/i }],
  },
  {
    name: 'an event over 32 KB inside a batch',
    route: '/v1/batch',
    body: { batch: [item(), item({ properties: { blob: 'x'.repeat(33 * 1024) } })] },
    status: 400,
    errors: [{ index: 1, path: /^(|properties.*)$/, message: /32768|32 KB|limit|large/i }],
    indexes: [1],
  },
  {
    name: 'a request over 500 KB',
    route: '/v1/batch',
    body: { batch: Array.from({ length: 30 }, () => item({ properties: { blob: 'x'.repeat(20 * 1024) } })) },
    status: 413,
    errors: [{ path: '', message: /limit|large/i }],
  },
  {
    name: 'a request of 2 MB',
    route: '/v1/track',
    body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    status: 413,
    errors: [{ path: '', message: /limit|large/i }],
  },
  {
    name: 'a gzip bomb (10 KB that inflates to 10 MB)',
    route: '/v1/track',
    body: gzipBomb(10 * 1024 * 1024),
    headers: { 'content-encoding': 'gzip' },
    status: 413,
    errors: [{ path: '', message: /limit|large/i }],
  },
  {
    name: 'a deflate bomb',
    route: '/v1/batch',
    body: deflateSync(Buffer.alloc(5 * 1024 * 1024, 0x20)),
    headers: { 'content-encoding': 'deflate' },
    status: 413,
    errors: [{ path: '', message: /limit|large/i }],
  },

  // Hostile shapes.
  {
    name: 'properties nested 1,000 levels deep',
    route: '/v1/track',
    body: { ...TRACK, properties: nested(1000) },
    status: 400,
    errors: [{ path: /^properties(\.a)+$/, message: /deep|depth|nest/i }],
  },
  {
    name: 'traits arrays nested 1,000 levels deep',
    route: '/v1/identify',
    body: { userId: 'u', traits: { d: nestedArrays(1000) } },
    status: 400,
    errors: [{ path: /^traits\.d/, message: /deep|depth|nest/i }],
  },
  {
    name: 'a batch-level context nested 1,000 levels deep',
    route: '/v1/batch',
    body: { context: nested(1000), batch: [item()] },
    status: 400,
    errors: [{ path: /^context/, message: /deep|depth|nest/i }],
  },
  {
    name: 'a __proto__ key in properties',
    route: '/v1/track',
    body: '{"userId":"u","event":"E","properties":{"__proto__":{"polluted":true}}}',
    status: 400,
    errors: [{ path: /__proto__/, message: /allowed|__proto__|key/i }],
  },
  {
    name: 'a __proto__ key at the top of a message',
    route: '/v1/identify',
    body: '{"userId":"u","__proto__":{"polluted":true}}',
    status: 400,
    errors: [{ path: /__proto__/, message: /allowed|__proto__|key/i }],
  },
  {
    name: 'a __proto__ key in a batch item',
    route: '/v1/batch',
    body: '{"batch":[{"type":"track","userId":"u","event":"E"},{"type":"identify","userId":"u","traits":{"__proto__":{"polluted":true}}}]}',
    status: 400,
    errors: [{ index: 1, path: /__proto__/, message: /allowed|__proto__|key/i }],
    indexes: [1],
  },
  {
    name: 'a __proto__ key in the batch-level context',
    route: '/v1/batch',
    body: '{"context":{"__proto__":{"polluted":true}},"batch":[{"type":"track","userId":"u","event":"E"}]}',
    status: 400,
    errors: [{ path: /__proto__/, message: /allowed|__proto__|key/i }],
  },

  // Encodings.
  {
    name: 'content-encoding br',
    route: '/v1/track',
    body: JSON.stringify(TRACK),
    headers: { 'content-encoding': 'br' },
    status: 415,
    errors: [{ path: '', message: /encoding/i }],
  },
  {
    name: 'content-encoding compress',
    route: '/v1/batch',
    body: JSON.stringify({ batch: [item()] }),
    headers: { 'content-encoding': 'compress' },
    status: 415,
    errors: [{ path: '', message: /encoding/i }],
  },
  {
    name: 'gzip declared but plain JSON sent',
    route: '/v1/track',
    body: JSON.stringify(TRACK),
    headers: { 'content-encoding': 'gzip' },
    status: 400,
    errors: [{ path: '', message: /gzip/i }],
  },
];

const isErrorItem = (e: unknown): e is ErrorItem =>
  typeof e === 'object' &&
  e !== null &&
  typeof (e as ErrorItem).path === 'string' &&
  typeof (e as ErrorItem).message === 'string' &&
  (e as ErrorItem).message.length > 0 &&
  ((e as ErrorItem).index === undefined || Number.isInteger((e as ErrorItem).index));

/** Asserts the documented error body: success false and a non-empty list of {index?, path, message}. */
function assertErrorShape(body: unknown, what: string): asserts body is ErrorBody {
  assert.equal(typeof body, 'object', `${what}: body is not JSON: ${String(body).slice(0, 200)}`);
  const b = body as ErrorBody;
  assert.equal(b.success, false, `${what}: ${JSON.stringify(body).slice(0, 300)}`);
  assert.ok(Array.isArray(b.errors) && b.errors.length > 0, `${what}: no errors listed`);
  for (const e of b.errors) assert.ok(isErrorItem(e), `${what}: malformed error item ${JSON.stringify(e)}`);
}

function matches(e: ErrorItem, x: Expected): boolean {
  const pathOk = typeof x.path === 'string' ? e.path === x.path : x.path.test(e.path);
  return pathOk && x.message.test(e.message) && (x.index === undefined || e.index === x.index);
}

describe('tracking API bad input', () => {
  let server: InProcessServer;
  let url: string;
  before(async () => {
    server = await startApp();
    url = server.url;
    // Some valid data first, so "nothing stored" is checked against a non-empty store.
    const r = await postTracking(url, '/v1/batch', {
      batch: [item({ messageId: uid('seed') }), { type: 'identify', userId: 'u-seed', traits: { a: 1 } }],
    });
    assert.equal(r.status, 200);
  });
  after(async () => {
    await server?.close();
  });

  for (const c of CASES) {
    it(`answers ${c.status} naming the problem, and stores nothing, for ${c.name}`, async () => {
      const before = await status(url);
      const r = await postTracking(url, c.route, c.body, c.headers ? { headers: c.headers } : {});
      assert.equal(r.status, c.status, `status; body: ${JSON.stringify(r.body).slice(0, 500)}`);
      assert.match(r.headers.get('content-type') ?? '', /application\/json/);
      assertErrorShape(r.body, c.name);
      for (const x of c.errors) {
        assert.ok(
          r.body.errors.some((e) => matches(e, x)),
          `expected an error ${JSON.stringify({ index: x.index, path: String(x.path), message: String(x.message) })}; got ${JSON.stringify(r.body.errors).slice(0, 600)}`,
        );
      }
      if (c.indexes) {
        const named = new Set(r.body.errors.map((e) => e.index));
        const missing = c.indexes.filter((i) => !named.has(i));
        const extra = [...named].filter((i) => i === undefined || !c.indexes?.includes(i));
        assert.deepEqual(
          { missing, extra },
          { missing: [], extra: [] },
          'every bad index, and only those, is named',
        );
      }
      assert.deepEqual(await status(url), before, 'nothing was stored');
    });
  }

  it('rejects a batch with bad items whole: its valid items are not stored either', async () => {
    const userId = uid('whole');
    const before = await status(url);
    const r = await postTracking(url, '/v1/batch', {
      batch: [
        { type: 'identify', userId, traits: { plan: 'pro' } },
        { type: 'track', userId, event: 'Fine' },
        { type: 'track', userId },
      ],
    });
    assert.equal(r.status, 400);
    assertErrorShape(r.body, 'partial batch');
    assert.deepEqual(
      r.body.errors.map((e) => [e.index, e.path]),
      [[2, 'event']],
    );
    assert.deepEqual(await status(url), before);
    const lookup = await fetch(`${url}/api/profiles?userId=${userId}`, {
      headers: { authorization: 'Bearer x' },
    });
    assert.equal(lookup.status, 401, 'admin API needs the admin token');
  });

  it('accepts a request of exactly 500 KB and refuses one byte more with 413', async () => {
    const LIMIT = 500 * 1024;
    const userId = uid('size');
    const build = (n: number): string => {
      const items = Array.from({ length: 24 }, (_, i) =>
        item({ userId, messageId: `${userId}-${n}-${i}`, properties: { pad: 'x'.repeat(20_000) } }),
      );
      const json = JSON.stringify({ batch: items });
      assert.ok(json.length < n);
      return json + ' '.repeat(n - json.length);
    };
    const before = await status(url);
    const ok = await postTracking(url, '/v1/batch', build(LIMIT));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await status(url)).events, before.events + 24);
    const tooBig = await postTracking(url, '/v1/batch', build(LIMIT + 1));
    assert.equal(tooBig.status, 413);
    assertErrorShape(tooBig.body, 'one byte over');
    const zipped = await postTracking(url, '/v1/batch', gzipSync(build(LIMIT + 1)), {
      headers: { 'content-encoding': 'gzip' },
    });
    assert.equal(zipped.status, 413, 'the limit applies to the inflated body');
    assertErrorShape(zipped.body, 'one byte over, gzipped');
    assert.equal((await status(url)).events, before.events + 24);
  });

  it('still answers /healthz and accepts a valid event after all of that', async () => {
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    const before = await status(url);
    const r = await postTracking(url, '/v1/track', { userId: uid('after'), event: 'Still Working' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { success: true });
    assert.equal((await status(url)).events, before.events + 1);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  });

  describe('arbitrary bodies (property test)', () => {
    const ROUTES = ['identify', 'track', 'page', 'screen', 'group', 'alias', 'batch'].map((t) => `/v1/${t}`);
    const ALLOWED = new Set([200, 400, 401, 413, 415]);
    const route = fc.constantFrom(...ROUTES);
    const auth = fc.constantFrom<'basic' | 'none' | 'wrong'>(
      'basic',
      'basic',
      'basic',
      'basic',
      'none',
      'wrong',
    );

    /** A Segment-like message whose fields hold arbitrary JSON, to reach the deeper checks. */
    const jsonValue = fc.jsonValue({ maxDepth: 4 });
    const idLike = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), jsonValue);
    const segmentish = fc.record(
      {
        type: fc.oneof(
          fc.constantFrom('identify', 'track', 'page', 'screen', 'group', 'alias', 'Track', ''),
          jsonValue,
        ),
        userId: idLike,
        anonymousId: idLike,
        previousId: idLike,
        groupId: idLike,
        event: fc.oneof(fc.string({ maxLength: 30 }), jsonValue),
        name: fc.oneof(fc.string({ maxLength: 30 }), jsonValue),
        properties: fc.oneof(
          fc.dictionary(fc.string({ maxLength: 10 }), jsonValue, { maxKeys: 5 }),
          jsonValue,
        ),
        traits: fc.oneof(fc.dictionary(fc.string({ maxLength: 10 }), jsonValue, { maxKeys: 5 }), jsonValue),
        context: fc.oneof(fc.dictionary(fc.string({ maxLength: 10 }), jsonValue, { maxKeys: 5 }), jsonValue),
        integrations: jsonValue,
        timestamp: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string({ maxLength: 30 }),
          jsonValue,
        ),
        sentAt: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string({ maxLength: 30 }),
          jsonValue,
        ),
        messageId: fc.oneof(fc.uuid(), fc.string({ maxLength: 10 }), jsonValue),
        writeKey: fc.oneof(fc.string({ maxLength: 10 }), jsonValue),
      },
      { requiredKeys: [] },
    );
    const batchish = fc.record(
      {
        batch: fc.oneof(fc.array(segmentish, { maxLength: 6 }), jsonValue),
        context: fc.oneof(fc.dictionary(fc.string({ maxLength: 10 }), jsonValue, { maxKeys: 4 }), jsonValue),
        sentAt: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string({ maxLength: 30 }),
          jsonValue,
        ),
      },
      { requiredKeys: [] },
    );
    const encoding = fc.constantFrom<'identity' | 'gzip' | 'deflate' | 'none' | 'x-unknown'>(
      'none',
      'none',
      'identity',
      'gzip',
      'deflate',
      'x-unknown',
    );
    const contentType = fc.constantFrom(
      'application/json',
      'text/plain',
      'application/json; charset=utf-8',
      'application/octet-stream',
    );

    /** A body as bytes: arbitrary JSON, arbitrary text, arbitrary bytes, or a Segment-like message. */
    const body = fc.oneof(
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.string({ unit: 'binary', maxLength: 300 }).map((s) => Buffer.from(s)),
      fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
      segmentish.map((m) => Buffer.from(JSON.stringify(m))),
      batchish.map((b) => Buffer.from(JSON.stringify(b))),
    );

    async function send(
      path: string,
      bytes: Buffer,
      how: { auth: string; encoding: string; contentType: string },
    ) {
      let payload: Buffer = bytes;
      if (how.encoding === 'gzip') payload = gzipSync(bytes);
      else if (how.encoding === 'deflate') payload = deflateSync(bytes);
      const headers: Record<string, string> = { 'content-type': how.contentType };
      if (how.encoding !== 'none') headers['content-encoding'] = how.encoding;
      const writeKey = how.auth === 'basic' ? undefined : how.auth === 'none' ? null : 'wk_wrong_key_0000';
      return postTracking(url, path, payload, { writeKey, headers, signal: AbortSignal.timeout(10_000) });
    }

    function assertDocumented(r: { status: number; body: unknown; headers: Headers }, what: string): void {
      assert.ok(
        ALLOWED.has(r.status),
        `${what}: status ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`,
      );
      assert.match(r.headers.get('content-type') ?? '', /application\/json/, what);
      if (r.status === 200) assert.deepEqual(r.body, { success: true }, what);
      else assertErrorShape(r.body, what);
    }

    it('answers every arbitrary body with 200, 400, 401, 413 or 415 and a body of the documented shape', async () => {
      await fc.assert(
        fc.asyncProperty(route, body, auth, encoding, contentType, async (path, bytes, a, enc, ct) => {
          const r = await send(path, bytes, { auth: a, encoding: enc, contentType: ct });
          assertDocumented(r, `${path} ${enc} ${ct} ${a} ${bytes.subarray(0, 200).toString('utf8')}`);
        }),
        { numRuns: 300 },
      );
    });

    it('answers every arbitrary Segment-like message with a documented status, and stores only what it accepted', async () => {
      await fc.assert(
        fc.asyncProperty(route, fc.oneof(segmentish, batchish), async (path, message) => {
          const before = await status(url);
          const r = await send(path, Buffer.from(JSON.stringify(message)), {
            auth: 'basic',
            encoding: 'none',
            contentType: 'application/json',
          });
          assertDocumented(r, `${path} ${JSON.stringify(message).slice(0, 300)}`);
          const after = await status(url);
          if (r.status !== 200) assert.deepEqual(after, before, 'a rejected request stored something');
        }),
        { numRuns: 300 },
      );
    });

    it('still serves after the property runs', async () => {
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const r = await postTracking(url, '/v1/identify', { userId: uid('final'), traits: { ok: true } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { success: true });
    });
  });
});
