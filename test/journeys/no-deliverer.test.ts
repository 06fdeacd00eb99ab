/**
 * A server whose messages nothing can deliver yet: sends wait in the outbox untouched (no claim,
 * no attempt counted, no timer spinning on them) while trait updates are still performed; once a
 * deliverer is set, the waiting messages go out, each once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OutboundMessage } from '../../src/channels/outbound.ts';
import { VirtualClock } from '../../src/core/clock.ts';
import { eventually } from '../helpers/eventually.ts';
import { admin, findProfile, type InProcessServer, postTracking, startApp } from '../helpers/server.ts';

const T0 = Date.parse('2026-05-04T09:00:00.000Z');

describe('journeys without a deliverer', () => {
  const clock = new VirtualClock(T0);
  let server: InProcessServer;
  before(async () => {
    server = await startApp({ clock, deliverer: null });
    await server.app.journeys.ready;
    const t = await admin(server.url, 'PUT', '/api/templates/welcome', {
      channel: 'email',
      defaultLocale: 'en',
      locales: { en: { subject: 'Welcome', text: 'Hello' } },
    });
    assert.ok(t.status === 201 || t.status === 200, JSON.stringify(t.body));
    const j = await admin(server.url, 'PUT', '/api/journeys/welcome?publish=true', {
      name: 'Welcome',
      trigger: { event: 'Signed Up' },
      start: 'mark',
      nodes: {
        mark: { type: 'update', set: { welcomed: true }, next: 'hello' },
        hello: { type: 'send', channel: 'email', template: 'welcome', next: null },
      },
    });
    assert.ok(j.status === 201 || j.status === 200, JSON.stringify(j.body));
  });
  after(async () => server.close());

  test('messages wait untouched, updates are performed, and a deliverer set later sends each once', async () => {
    for (const userId of ['ana', 'ben']) {
      const r = await postTracking(server.url, '/v1/track', {
        userId,
        event: 'Signed Up',
        timestamp: new Date(clock.now()).toISOString(),
      });
      assert.equal(r.status, 200);
    }
    const outboxOf = async (userId: string) => {
      const p = await findProfile(server.url, 'userId', userId);
      if (p === null) return [];
      const runs = await admin<{ runs: { id: string }[] }>(server.url, 'GET', `/api/profiles/${p.id}/runs`);
      if (runs.body.runs.length === 0) return [];
      const run = await admin<{ outbox: { kind: string; status: string; attempts: number }[] }>(
        server.url,
        'GET',
        `/api/runs/${runs.body.runs[0]!.id}`,
      );
      return run.body.outbox;
    };
    await eventually(
      'the update performed and the message queued',
      async () => {
        await server.app.journeys.settled();
        const ana = await findProfile(server.url, 'userId', 'ana');
        return { welcomed: ana?.traits.welcomed, rows: await outboxOf('ana') };
      },
      ({ welcomed, rows }) => welcomed === true && rows.some((r) => r.kind === 'send'),
    );
    // An hour later the messages still wait, never claimed.
    clock.advance(3_600_000);
    await new Promise((r) => setTimeout(r, 100));
    for (const userId of ['ana', 'ben']) {
      const send = (await outboxOf(userId)).find((r) => r.kind === 'send');
      assert.deepEqual([send?.status, send?.attempts], ['pending', 0], userId);
    }

    const got: OutboundMessage[] = [];
    server.app.dispatcher.use({
      deliver: async (m) => {
        got.push(m);
        return { status: 'sent', detail: 'accepted' };
      },
    });
    await eventually(
      'both messages sent',
      () => Promise.all(['ana', 'ben'].map(async (u) => (await outboxOf(u)).find((r) => r.kind === 'send'))),
      (sends) => sends.every((s) => s?.status === 'sent'),
    );
    assert.equal(got.length, 2);
    assert.deepEqual(
      got.map((m) => m.template),
      ['welcome', 'welcome'],
    );
  });
});
