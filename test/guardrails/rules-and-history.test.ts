/**
 * Rules as written (defaults, path-precise errors) and the delivery history the dispatcher keeps
 * (sorted, bounded by the longest window, rebuilt from `Message Sent` events).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileRules } from '../../src/guardrails/compile-rules.ts';
import {
  appendDelivery,
  DeliveryHistory,
  deliveryFromEvent,
  MESSAGE_SENT,
  messageSentProperties,
  pruneDeliveries,
} from '../../src/guardrails/delivery-history.ts';
import { GuardrailService } from '../../src/guardrails/guardrail-service.ts';
import { checkRules, InvalidRulesError, parseRules } from '../../src/guardrails/parse-rules.ts';
import { DEFAULT_RULES } from '../../src/guardrails/rules.ts';
import { takeToken, tokensAt } from '../../src/guardrails/token-bucket.ts';
import { at, DAY, delivery, facts, HOUR, message } from './helpers.ts';

const errorsOf = (input: unknown) => {
  const c = checkRules(input);
  assert.ok(!c.ok, 'expected the rules to be refused');
  return c.ok ? [] : c.errors;
};

describe('rules as written', () => {
  test('an empty document is the defaults', () => {
    assert.deepEqual(parseRules({}), DEFAULT_RULES);
  });

  test('left-out sections keep their defaults, empty lists and null turn rules off', () => {
    const r = parseRules({ quietHours: [], sendTime: null, consent: { promotional: 'denied' } });
    assert.deepEqual(r.quietHours, []);
    assert.equal(r.sendTime, null);
    assert.deepEqual(r.frequencyCaps, DEFAULT_RULES.frequencyCaps);
    assert.equal(r.consent.promotional, 'denied');
    assert.equal(r.consent.trait, 'consent');
    assert.deepEqual(r.consent.channels, { sms: 'denied' });
  });

  test('names the path of every error', () => {
    const errors = errorsOf({
      timeZone: { default: 'Europe/Atlantis' },
      consent: { promotional: 'maybe', channels: { fax: 'denied' }, topics: { news: true } },
      suppression: [{ segments: [] }, 'vip'],
      dedupe: [{ window: '1d', match: 'similar' }],
      frequencyCaps: [
        { max: 1.5, window: '1d', categories: ['spam'] },
        { max: 1, window: '1d', perChannel: 'yes', onExceed: 'drop', extra: 1 },
      ],
      quietHours: [
        { start: '21:00', end: '21:00' },
        { start: '9pm', end: '08:00' },
      ],
      sendTime: { maxDelay: 'soon' },
      rateLimits: [{ provider: '', rate: -1 }],
    });
    assert.deepEqual(errors.map((e) => e.path).sort(), [
      'consent.channels.fax',
      'consent.promotional',
      'consent.topics.news',
      'dedupe[0].match',
      'frequencyCaps[0].categories[0]',
      'frequencyCaps[0].max',
      'frequencyCaps[1].extra',
      'frequencyCaps[1].onExceed',
      'frequencyCaps[1].perChannel',
      'quietHours[0].end',
      'quietHours[1].start',
      'rateLimits[0].provider',
      'rateLimits[0].rate',
      'sendTime.maxDelay',
      'suppression[0].segments',
      'suppression[1]',
      'timeZone.default',
    ]);
    for (const e of errors) assert.ok(e.message.length > 5, `${e.path} has a message`);
  });

  test('refuses a rule id used twice, and anything but an object', () => {
    const errors = errorsOf({
      frequencyCaps: [{ id: 'x', max: 1, window: '1d' }],
      dedupe: [{ id: 'x', window: '1d' }],
    });
    assert.deepEqual(errors, [
      { path: 'frequencyCaps[0].id', message: "'x' is already the id of dedupe[0]" },
    ]);
    assert.equal(errorsOf([1, 2])[0]?.path, '');
    assert.throws(() => parseRules(null), InvalidRulesError);
  });

  test('compiles the longest window as the history to keep', () => {
    const g = compileRules(parseRules({ dedupe: [{ window: '30d', match: 'template' }] }));
    assert.equal(g.retentionMs, 30 * DAY);
    assert.equal(compileRules(parseRules({})).retentionMs, 7 * DAY);
  });
});

describe('delivery history', () => {
  const limits = { retentionMs: 7 * DAY, maxEntries: 3 };
  const now = at('2026-06-10T08:00:00Z');

  test('keeps deliveries in time order, drops what left the longest window and the oldest past the bound', () => {
    let h = appendDelivery([], delivery('email', 'promotional', now - HOUR), now, limits);
    h = appendDelivery(h, delivery('sms', 'promotional', now - 3 * HOUR), now, limits);
    h = appendDelivery(h, delivery('push', 'promotional', now - 2 * HOUR), now, limits);
    assert.deepEqual(
      h.map((d) => d.channel),
      ['sms', 'push', 'email'],
    );
    h = appendDelivery(h, delivery('inapp', 'promotional', now), now, limits);
    assert.deepEqual(
      h.map((d) => d.channel),
      ['push', 'email', 'inapp'],
    );
    assert.deepEqual(
      pruneDeliveries(h, now + 7 * DAY - HOUR, limits).map((d) => d.channel),
      ['inapp'],
    );
    assert.deepEqual(pruneDeliveries(h, now + 7 * DAY, limits), []);
  });

  test('records a message id once', () => {
    const d = delivery('email', 'transactional', now, { messageId: 'm1' });
    assert.equal(appendDelivery(appendDelivery([], d, now, limits), d, now, limits).length, 1);
  });

  test('rebuilds from Message Sent events, ignoring other and malformed events', () => {
    const sent = (profileId: string, t: number, properties: Record<string, unknown>) => ({
      profileId,
      name: MESSAGE_SENT,
      timestamp: new Date(t).toISOString(),
      properties,
    });
    const props = messageSentProperties({
      channel: 'email',
      category: 'promotional',
      topic: 'offers',
      template: 'ev-offer',
      journey: 'ev-launch',
      contentHash: 'abc',
      messageId: 'm1',
    });
    assert.deepEqual(Object.keys(props).sort(), [
      'category',
      'channel',
      'content_hash',
      'journey',
      'message_id',
      'template',
      'topic',
    ]);
    const history = new DeliveryHistory({ retentionMs: 7 * DAY, maxEntries: 500 });
    const n = history.replay(
      [
        sent('eva', now - DAY, props),
        sent('eva', now - 8 * DAY, { ...props, message_id: 'old' }),
        sent('eva', now - HOUR, { channel: 'fax', category: 'promotional', template: 't' }),
        sent('bob', now - HOUR, { channel: 'sms', category: 'transactional', template: 'otp' }),
        { profileId: 'eva', name: 'Order Completed', timestamp: now, properties: props },
      ],
      now,
    );
    assert.equal(n, 2);
    assert.deepEqual(history.of('eva', now), [
      {
        channel: 'email',
        category: 'promotional',
        topic: 'offers',
        template: 'ev-offer',
        journey: 'ev-launch',
        contentHash: 'abc',
        messageId: 'm1',
        at: now - DAY,
      },
    ]);
    assert.equal(history.of('bob', now)[0]?.topic, null);
    assert.equal(
      deliveryFromEvent({ event: MESSAGE_SENT, timestamp: 'not a time', properties: props }),
      null,
    );
    history.sweep(now + 7 * DAY);
    assert.equal(history.size, 0);
  });
});

describe('guardrail service and token buckets', () => {
  test('decides with stored rules, takes tokens and reloads what was stored', async () => {
    const settings = new Map<string, string>();
    const store = {
      getSetting: async (_ws: string, key: string) => settings.get(key) ?? null,
      setSetting: async (_ws: string, key: string, value: string) => void settings.set(key, value),
    };
    const ws = 'default' as Parameters<GuardrailService['view']>[0];
    const service = await GuardrailService.open(store, [ws]);
    assert.equal(service.view(ws).rules, null);
    const now = at('2026-06-10T08:00:00Z');
    await service.put(
      ws,
      { rateLimits: [{ provider: 'smtp', channels: ['email'], rate: 1, per: '1m', burst: 1 }] },
      now,
    );
    const m = message();
    assert.equal(service.decide(m, facts(), now).action, 'send');
    const buckets = service.takeTokens(m, {}, now);
    assert.deepEqual(buckets, { smtp: { tokens: 0, updatedAt: now } });
    const d = service.decide(message(), facts({ providers: buckets }), now);
    assert.equal(d.action === 'defer' ? d.until : null, now + 60_000);
    await assert.rejects(service.put(ws, { rateLimits: 'fast' }, now), InvalidRulesError);

    const reopened = await GuardrailService.open(store, [ws]);
    assert.equal(reopened.view(ws).updatedAt, now);
    assert.equal(reopened.historyLimits(ws).retentionMs, 7 * DAY);
  });

  test('refills a bucket at its rate up to its burst', () => {
    const limit = { rate: 10, perMs: 1000, burst: 5 };
    assert.equal(tokensAt(undefined, limit, 0), 5);
    const b = takeToken({ tokens: 0.5, updatedAt: 0 }, limit, 0);
    assert.equal(b.tokens, -0.5);
    assert.equal(tokensAt(b, limit, 150), 1);
    assert.equal(tokensAt(b, limit, 10_000), 5);
  });
});
