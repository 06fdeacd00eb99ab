/**
 * Exactly-once delivery across a crash: the server, as its own process, sends a welcome e-mail to
 * each of several hundred new customers through a real SMTP server on loopback; it is killed with
 * SIGKILL while it is sending, started again on the same data, and finishes. The SMTP server must
 * have received every message once and none twice (counted by Message-ID and in total); the only
 * exception allowed is a message whose closing "." was on its way at the instant of the kill,
 * which the server reports as in doubt and does not send again (at most once).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { type SmtpPeer, startSmtpPeer } from '../channels/peers.ts';
import { eventually } from '../helpers/eventually.ts';
import { admin, postTracking, type ServerProcess, spawnServer, tempDir } from '../helpers/server.ts';

const N = 600;

describe('message dispatch under SIGKILL', () => {
  const dataDir = tempDir();
  let smtp: SmtpPeer | null = null;
  let server: ServerProcess | null = null;
  after(async () => {
    await server?.kill('SIGKILL');
    await smtp?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('no message reaches the SMTP server twice, and every one not in doubt arrives', {
    timeout: 180_000,
  }, async () => {
    smtp = await startSmtpPeer({ keepRaw: true });
    server = await spawnServer(dataDir);
    const url = server.url;
    const ok = async (p: Promise<{ status: number; body: unknown }>) => {
      const r = await p;
      assert.ok(r.status >= 200 && r.status < 300, JSON.stringify(r.body));
    };
    await ok(
      admin(url, 'PUT', '/api/channels/email', {
        host: '127.0.0.1',
        port: smtp.port,
        secure: false,
        ignoreTLS: true,
        from: 'Shop <hello@shop.example>',
        publicUrl: 'https://t.shop.example',
        maxConnections: 4,
      }),
    );
    await ok(
      admin(url, 'PUT', '/api/templates/welcome', {
        channel: 'email',
        category: 'transactional',
        defaultLocale: 'en',
        locales: { en: { subject: 'Welcome, {{ profile.traits.name }}', text: 'Glad to have you.' } },
      }),
    );
    await ok(
      admin(url, 'PUT', '/api/journeys/welcome?publish=true', {
        trigger: { event: 'Signed Up' },
        start: 'hello',
        nodes: { hello: { type: 'send', channel: 'email', template: 'welcome', category: 'transactional' } },
      }),
    );
    const now = new Date().toISOString();
    const batch = [];
    for (let i = 0; i < N; i++) {
      const userId = `new-${i}`;
      batch.push({
        type: 'identify',
        userId,
        traits: { email: `new-${i}@example.com`, name: `Customer ${i}` },
        timestamp: now,
        messageId: `id-${i}`,
      });
      batch.push({ type: 'track', userId, event: 'Signed Up', timestamp: now, messageId: `su-${i}` });
    }
    for (let k = 0; k < batch.length; k += 200) {
      assert.equal((await postTracking(url, '/v1/batch', { batch: batch.slice(k, k + 200) })).status, 200);
    }

    // Kill it while it is sending.
    await eventually(
      'sending started',
      () => smtp!.mails.length,
      (n) => n >= 60,
      60_000,
    );
    await server.kill('SIGKILL');
    const atKill = smtp.mails.length;
    assert.ok(atKill < N, `killed before the end (${atKill} of ${N} sent)`);

    server = await spawnServer(dataDir);
    await eventually(
      'the outbox settled',
      async () => {
        const st = await admin<{ journeys: { outboxPending: number } }>(server!.url, 'GET', '/api/status');
        const s = await admin<{ nodes: Record<string, Record<string, number>> }>(
          server!.url,
          'GET',
          '/api/journeys/welcome/stats',
        );
        return [st.body.journeys.outboxPending, s.body.nodes.hello?.delivered ?? 0];
      },
      ([pending, delivered]) => pending === 0 && delivered! >= N,
      120_000,
    );
    // Give a duplicate the time to show up, if there were to be one.
    await new Promise((r) => setTimeout(r, 500));

    const ids = smtp.mails.map((m) => m.headers().get('message-id'));
    assert.equal(new Set(ids).size, smtp.mails.length, 'no message received twice');
    // A message whose closing "." was on its way when the process died is in doubt: recorded as
    // sent before the "." left, never sent again. Every other message arrived exactly once.
    const got = new Set(smtp.mails.flatMap((m) => m.to));
    const missing: { user: number; detail: string }[] = [];
    for (let i = 0; i < N; i++) {
      if (got.has(`new-${i}@example.com`)) continue;
      const p = await admin<{ id: string }>(server.url, 'GET', `/api/profiles?userId=new-${i}`);
      const runs = await admin<{ runs: { id: string }[] }>(
        server.url,
        'GET',
        `/api/profiles/${p.body.id}/runs`,
      );
      const run = await admin<{ outbox: { detail: string }[] }>(
        server.url,
        'GET',
        `/api/runs/${runs.body.runs[0]!.id}`,
      );
      missing.push({ user: i, detail: run.body.outbox[0]!.detail });
    }
    for (const m of missing) assert.match(m.detail, /^in doubt/, `message ${m.user} is missing: ${m.detail}`);
    assert.ok(missing.length <= 4, `at most a few messages in doubt, got ${missing.length}`);
    assert.equal(smtp.mails.length + missing.length, N, `killed after ${atKill} of ${N}`);
  });
});
