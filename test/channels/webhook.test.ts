/**
 * The webhook sender's own promises: retries with full-jitter exponential backoff until the peer
 * answers, a dead-letter list for what never got through, and outbound address rules that refuse
 * private, loopback and link-local targets unless allow-listed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AddressRefused, AllowList, resolveTarget } from '../../src/channels/address-rules.ts';
import { parseSettings } from '../../src/channels/channel-settings.ts';
import type { RenderedMessage } from '../../src/channels/sender.ts';
import { backoffMs, DeadLetters, WebhookSender } from '../../src/channels/webhook-sender.ts';
import type { WorkspaceId } from '../../src/core/ids.ts';
import { settingsOnlyStore } from './memory-settings.ts';
import { type HttpPeer, startHttpPeer } from './peers.ts';

const ws = 'default' as WorkspaceId;
const message = (id: string): RenderedMessage => ({
  id,
  workspaceId: ws,
  profileId: 'p1',
  channel: 'webhook',
  template: 'crm-sync',
  category: 'transactional',
  locale: 'en',
  to: {},
  content: { channel: 'webhook', body: { id } },
});

describe('webhook delivery', () => {
  let peer: HttpPeer;
  const store = settingsOnlyStore();
  const deadLetters = new DeadLetters(store);
  const waits: number[] = [];
  const sender = new WebhookSender({
    deadLetters,
    now: Date.now,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  before(async () => {
    peer = await startHttpPeer(() => ({ kind: 'reply', status: 200, body: '{}' }));
  });
  after(async () => peer?.close());
  const settings = (extra: Record<string, unknown> = {}) =>
    parseSettings(
      'webhook',
      {
        url: `${peer.url}/hook`,
        secret: 'k',
        timeoutMs: 300,
        backoffBaseMs: 100,
        allow: ['127.0.0.1'],
        ...extra,
      },
      null,
    );

  test('retries temporary failures with growing, jittered waits, then delivers', async () => {
    waits.length = 0;
    const n = peer.received.length;
    peer.queue.push(
      { kind: 'reply', status: 503, body: '' },
      { kind: 'reset' },
      { kind: 'reply', status: 429, body: '', headers: { 'retry-after': '1' } },
    );
    const r = await sender.send(message('w-1'), 'w-1', settings());
    assert.equal(r.kind, 'delivered');
    assert.equal(peer.received.length - n, 4);
    // Half of 100·2^attempt each time (random = 0.5), except Retry-After: 1 s wins on the third.
    assert.deepEqual(waits, [50, 100, 1000]);
    assert.ok(peer.received.slice(-4).every((x) => x.headers['idempotency-key'] === 'w-1'));
  });

  test('full jitter stays below the capped exponential', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cap = Math.min(30_000, 500 * 2 ** attempt);
      assert.ok(backoffMs(attempt, 500, 30_000, () => 0.999999) < cap);
      assert.equal(
        backoffMs(attempt, 500, 30_000, () => 0),
        0,
      );
    }
  });

  test('what never gets through is dead-lettered with its reason; a 4xx is not retried', async () => {
    peer.queue.push(
      ...Array.from({ length: 4 }, () => ({ kind: 'reply' as const, status: 500, body: 'down' })),
    );
    const r = await sender.send(message('w-2'), 'w-2', settings());
    assert.equal(r.kind, 'permanent');
    const n = peer.received.length;
    peer.queue.push({ kind: 'reply', status: 400, body: 'bad' });
    const r2 = await sender.send(message('w-3'), 'w-3', settings());
    assert.equal(r2.kind, 'permanent');
    assert.equal(peer.received.length - n, 1, 'a 4xx is tried once');
    const letters = await deadLetters.list(ws);
    assert.deepEqual(
      letters.map((l) => [l.id, l.attempts]),
      [
        ['w-3', 1],
        ['w-2', 4],
      ],
    );
    assert.match(letters[1]!.reason, /HTTP 500: down \(after 4 attempts\)/);
    assert.equal(letters[1]!.body, '{"id":"w-2"}');
  });

  test('loopback is refused unless allow-listed, and nothing is sent', async () => {
    const n = peer.received.length;
    const r = await sender.send(message('w-4'), 'w-4', settings({ allow: [] }));
    assert.equal(r.kind, 'permanent');
    assert.match(
      (r as { reason: string }).reason,
      /address refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, a private, loopback/,
    );
    assert.equal(peer.received.length, n);
  });
});

describe('outbound address rules', () => {
  const refused = async (url: string, allow: string[] = []) =>
    assert.rejects(resolveTarget(url, new AllowList(allow)), AddressRefused, url);

  test('deny private, loopback, link-local, metadata and mapped addresses by default', async () => {
    for (const url of [
      'http://10.1.2.3/',
      'http://172.16.0.1/',
      'http://192.168.1.1/',
      'http://127.0.0.1:8080/',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/',
      'http://[fe80::1]/',
      'http://[fd00::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://0.0.0.0/',
      'http://localhost/',
    ]) {
      await refused(url);
    }
  });

  test('refuse other schemes and URLs with credentials', async () => {
    await refused('file:///etc/passwd');
    await refused('ftp://example.com/');
    await refused('http://user:pw@93.184.216.34/');
  });

  test('allow-list by CIDR, single address or host name', async () => {
    assert.equal(
      (await resolveTarget('http://10.1.2.3/', new AllowList(['10.0.0.0/8']))).address,
      '10.1.2.3',
    );
    assert.equal(
      (await resolveTarget('http://127.0.0.1/', new AllowList(['127.0.0.1']))).address,
      '127.0.0.1',
    );
    assert.equal(
      (await resolveTarget('http://localhost/', new AllowList(['localhost']))).url.hostname,
      'localhost',
    );
    await refused('http://10.1.2.3/', ['10.9.0.0/16']);
  });

  test('public addresses pass', async () => {
    assert.equal((await resolveTarget('https://93.184.216.34/x', new AllowList([]))).family, 4);
  });
});
