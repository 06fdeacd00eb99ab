/**
 * The guardrail decision, rule by rule and in precedence order: consent, suppression segments,
 * de-duplication, frequency caps, quiet hours with send-time optimisation, provider rate limits.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide } from '../../src/guardrails/decide.ts';
import type { Decision } from '../../src/guardrails/decision.ts';
import { at, DAY, delivery, facts, HOUR, iso, message, rules } from './helpers.ts';

// 10:00 in Berlin (CEST, UTC+2) on a Wednesday.
const NOW = at('2026-06-10T08:00:00Z');
const NONE = { frequencyCaps: [], quietHours: [], dedupe: [], sendTime: null };

function expectSkip(d: Decision, reason: string, rule?: string): void {
  assert.equal(d.action, 'skip', JSON.stringify(d));
  if (d.action !== 'skip') return;
  assert.equal(d.reason, reason, d.message);
  assert.ok(d.message.startsWith(`${reason}: `), d.message);
  if (rule !== undefined) assert.equal(d.rule, rule);
}

function expectDefer(d: Decision, reason: string, until: string): void {
  assert.equal(d.action, 'defer', JSON.stringify(d));
  if (d.action !== 'defer') return;
  assert.equal(d.reason, reason, d.message);
  assert.equal(iso(d.until), until, d.message);
}

describe('consent', () => {
  const g = rules(NONE);

  test('sends a transactional message to a profile that says nothing about consent', () => {
    const d = decide(g, message({ category: 'transactional', channel: 'sms' }), facts({ traits: {} }), NOW);
    assert.equal(d.action, 'send');
  });

  test('skips every message, even transactional, on a channel suppressed by a bounce, complaint or STOP', () => {
    const f = facts({
      traits: { consent: { sms: { suppressed: true, reason: 'STOP' }, email: { promotional: true } } },
    });
    const d = decide(g, message({ category: 'transactional', channel: 'sms' }), f, NOW);
    expectSkip(d, 'channel_suppressed', 'consent');
    assert.match(d.action === 'skip' ? d.message : '', /sms is suppressed for the profile \(STOP\)/);
    // Other channels are untouched.
    assert.equal(decide(g, message({ category: 'transactional', channel: 'email' }), f, NOW).action, 'send');
    assert.equal(decide(g, message({ channel: 'email' }), f, NOW).action, 'send');
  });

  test('skips a topic the profile unsubscribed from, whatever the category', () => {
    const f = facts({ traits: { consent: { email: { topics: { order_updates: false } } } } });
    const m = message({ category: 'transactional', topic: 'order_updates' });
    expectSkip(decide(g, m, f, NOW), 'consent_topic_denied');
    assert.equal(decide(g, message({ category: 'transactional' }), f, NOW).action, 'send');
  });

  test('applies the workspace default when the profile says nothing: e-mail opt-out, SMS opt-in', () => {
    const f = facts({ traits: {} });
    assert.equal(decide(g, message({ channel: 'email' }), f, NOW).action, 'send');
    assert.equal(decide(g, message({ channel: 'push' }), f, NOW).action, 'send');
    expectSkip(decide(g, message({ channel: 'sms' }), f, NOW), 'consent_missing');
  });

  test('requires explicit consent everywhere when the workspace policy denies by default', () => {
    const strict = rules({ ...NONE, consent: { promotional: 'denied', channels: {} } });
    const d = decide(strict, message({ channel: 'email' }), facts({ traits: {} }), NOW);
    expectSkip(d, 'consent_missing');
    assert.match(d.action === 'skip' ? d.message : '', /needs explicit consent/);
    const granted = facts({ traits: { consent: { email: { promotional: true } } } });
    assert.equal(decide(strict, message({ channel: 'email' }), granted, NOW).action, 'send');
  });

  test('honours refusals, topic subscriptions and topic defaults', () => {
    const g2 = rules({ ...NONE, consent: { topics: { partner_offers: 'denied' } } });
    const consent = {
      email: { promotional: true, topics: { combustion_offers: false } },
      sms: { topics: { ev_offers: true } },
      push: { promotional: false, topics: { ev_offers: true } },
    };
    const f = facts({ traits: { consent } });
    expectSkip(decide(g2, message({ topic: 'combustion_offers' }), f, NOW), 'consent_topic_denied');
    assert.equal(decide(g2, message({ topic: 'ev_offers' }), f, NOW).action, 'send');
    // An explicit topic opt-in is consent even where the channel default is "denied".
    assert.equal(decide(g2, message({ channel: 'sms', topic: 'ev_offers' }), f, NOW).action, 'send');
    expectSkip(decide(g2, message({ channel: 'sms', topic: 'service' }), f, NOW), 'consent_missing');
    // Refusing promotional messages on a channel refuses every topic on it.
    expectSkip(decide(g2, message({ channel: 'push', topic: 'ev_offers' }), f, NOW), 'consent_denied');
    // A topic whose default is "denied" needs its own opt-in, despite promotional consent.
    expectSkip(decide(g2, message({ topic: 'partner_offers' }), f, NOW), 'consent_missing');
  });

  test('treats a malformed consent trait as absent', () => {
    const f = facts({ traits: { consent: 'yes please' } });
    assert.equal(decide(g, message({ channel: 'email' }), f, NOW).action, 'send');
    expectSkip(decide(g, message({ channel: 'sms' }), f, NOW), 'consent_missing');
  });
});

describe('suppression segments', () => {
  const g = rules({
    ...NONE,
    suppression: [
      { id: 'critical-ticket', segments: ['open_critical_ticket'] },
      { id: 'recent-buyers', segments: ['bought_ev_30d'], journeys: ['ev-launch'] },
    ],
  });

  test('keeps promotional messages from a customer with an open critical ticket, not transactional ones', () => {
    const f = facts({ segments: ['vip', 'open_critical_ticket'] });
    const d = decide(g, message(), f, NOW);
    expectSkip(d, 'suppressed', 'critical-ticket');
    assert.match(d.action === 'skip' ? d.message : '', /segment 'open_critical_ticket'/);
    assert.equal(decide(g, message({ category: 'transactional' }), f, NOW).action, 'send');
  });

  test('suppresses per journey only in the journeys named', () => {
    const f = facts({ segments: new Set(['bought_ev_30d']) });
    expectSkip(decide(g, message({ journey: 'ev-launch' }), f, NOW), 'suppressed', 'recent-buyers');
    assert.equal(decide(g, message({ journey: 'charging-tips' }), f, NOW).action, 'send');
    assert.equal(decide(g, message({ journey: null }), f, NOW).action, 'send');
  });
});

describe('de-duplication', () => {
  const g = rules({
    ...NONE,
    dedupe: [
      { id: 'same-content', window: '1d', match: 'content' },
      {
        id: 'same-template',
        window: '7d',
        match: 'template',
        categories: ['promotional'],
        topics: ['digest'],
      },
    ],
  });

  test('never sends the same message id twice', () => {
    const m = message({ category: 'transactional' });
    const f = facts({ deliveries: [delivery('email', 'transactional', NOW - 2 * DAY, { messageId: m.id })] });
    expectSkip(decide(g, m, f, NOW), 'already_sent');
  });

  test('skips identical content within the window, and nothing else', () => {
    const sent = delivery('email', 'transactional', NOW - 23 * HOUR, {
      template: 'receipt',
      contentHash: 'h1',
    });
    const m = message({ category: 'transactional', template: 'receipt' });
    expectSkip(
      decide(g, m, facts({ deliveries: [sent], contentHash: 'h1' }), NOW),
      'duplicate',
      'same-content',
    );
    assert.equal(decide(g, m, facts({ deliveries: [sent], contentHash: 'h2' }), NOW).action, 'send');
    assert.equal(decide(g, m, facts({ deliveries: [sent], contentHash: 'h1' }), NOW + HOUR).action, 'send');
    // Without the content hash of the message, content de-duplication cannot judge and stays out.
    assert.equal(decide(g, m, facts({ deliveries: [sent] }), NOW).action, 'send');
  });

  test('skips the same template within its window when matching by template', () => {
    const sent = delivery('push', 'promotional', NOW - 3 * DAY, {
      template: 'weekly-digest',
      topic: 'digest',
    });
    const m = message({ template: 'weekly-digest', topic: 'digest' });
    const d = decide(g, m, facts({ deliveries: [sent] }), NOW);
    expectSkip(d, 'duplicate', 'same-template');
    assert.match(
      d.action === 'skip' ? d.message : '',
      /template 'weekly-digest' was already sent .* \(push\), within 7d/,
    );
  });
});

describe('frequency caps', () => {
  const g = rules({ quietHours: [], sendTime: null, dedupe: [] });

  test('allows one promotional message a day across all channels', () => {
    const f = facts({ deliveries: [delivery('email', 'promotional', NOW - 10 * HOUR)] });
    const d = decide(g, message({ channel: 'push' }), f, NOW);
    expectSkip(d, 'frequency_cap', 'frequencyCaps[0]');
    assert.equal(
      d.action === 'skip' ? d.message : '',
      `frequency_cap: 1 promotional message per 1d across all channels already sent at ${iso(NOW - 10 * HOUR)} (email)`,
    );
  });

  test('counts a rolling window to the millisecond', () => {
    const f = facts({ deliveries: [delivery('email', 'promotional', NOW - DAY)] });
    assert.equal(decide(g, message(), f, NOW).action, 'send');
    expectSkip(decide(g, message(), f, NOW - 1), 'frequency_cap');
  });

  test('allows three a week', () => {
    const three = [1, 3, 5].map((d) => delivery('sms', 'promotional', NOW - d * DAY - HOUR));
    expectSkip(decide(g, message(), facts({ deliveries: three }), NOW), 'frequency_cap', 'frequencyCaps[1]');
    assert.equal(decide(g, message(), facts({ deliveries: three.slice(1) }), NOW).action, 'send');
  });

  test('exempts transactional messages by default, and counts them only when configured', () => {
    const f = facts({
      deliveries: [1, 2, 3, 4].map((h) => delivery('email', 'transactional', NOW - h * HOUR)),
    });
    assert.equal(decide(g, message(), f, NOW).action, 'send');
    assert.equal(decide(g, message({ category: 'transactional' }), f, NOW).action, 'send');
    const strict = rules({
      ...NONE,
      frequencyCaps: [{ max: 4, window: '1d', categories: ['transactional', 'promotional'] }],
    });
    expectSkip(decide(strict, message({ category: 'transactional' }), f, NOW), 'frequency_cap');
  });

  test('counts each channel on its own when per channel', () => {
    const g2 = rules({ ...NONE, frequencyCaps: [{ max: 1, window: '1d', perChannel: true }] });
    const f = facts({ deliveries: [delivery('email', 'promotional', NOW - HOUR)] });
    expectSkip(decide(g2, message({ channel: 'email' }), f, NOW), 'frequency_cap');
    assert.equal(decide(g2, message({ channel: 'push' }), f, NOW).action, 'send');
  });

  test('counts per journey and per topic when scoped so', () => {
    const g2 = rules({
      ...NONE,
      frequencyCaps: [
        { id: 'journey', max: 1, window: '1d', perJourney: true },
        { id: 'offers', max: 2, window: '1d', topics: ['offers'] },
      ],
    });
    const other = delivery('email', 'promotional', NOW - HOUR, { journey: 'winback' });
    assert.equal(
      decide(g2, message({ journey: 'ev-launch' }), facts({ deliveries: [other] }), NOW).action,
      'send',
    );
    expectSkip(
      decide(g2, message({ journey: 'winback' }), facts({ deliveries: [other] }), NOW),
      'frequency_cap',
      'journey',
    );
    const offers = [1, 2].map((h) =>
      delivery('push', 'promotional', NOW - h * HOUR, { topic: 'offers', journey: `j${h}` }),
    );
    expectSkip(
      decide(g2, message({ topic: 'offers' }), facts({ deliveries: offers }), NOW),
      'frequency_cap',
      'offers',
    );
    assert.equal(decide(g2, message({ topic: 'news' }), facts({ deliveries: offers }), NOW).action, 'send');
  });

  test('defers instead of skipping when told to, to when the window has room and outside quiet hours', () => {
    const g2 = rules({
      ...NONE,
      frequencyCaps: [{ max: 2, window: '1d', onExceed: 'defer' }],
      quietHours: [{ start: '21:00', end: '08:00' }],
    });
    // Sent at 09:00 and 10:00 Berlin yesterday evening... the older one leaves the window at 09:00 today.
    const f = facts({
      deliveries: [
        delivery('email', 'promotional', NOW - 23 * HOUR),
        delivery('sms', 'promotional', NOW - 2 * HOUR),
      ],
    });
    expectDefer(decide(g2, message(), f, NOW), 'frequency_cap', iso(NOW + HOUR));
    // Room comes back at 22:30 Berlin: quiet hours move it to 08:00 the next morning.
    const late = facts({
      deliveries: [
        delivery('email', 'promotional', at('2026-06-09T20:30:00Z')),
        delivery('push', 'promotional', NOW - HOUR),
      ],
    });
    expectDefer(decide(g2, message(), late, NOW), 'frequency_cap', '2026-06-11T06:00:00.000Z');
  });
});

describe('quiet hours and send-time optimisation', () => {
  const g = rules({
    ...NONE,
    quietHours: [{ start: '21:00', end: '08:00', channels: ['sms', 'push', 'email'] }],
  });

  test("defers a promotional message at night to the end of quiet hours in the profile's zone", () => {
    const night = at('2026-06-10T20:30:00Z'); // 22:30 in Berlin
    const d = decide(g, message({ channel: 'sms' }), facts(), night);
    expectDefer(d, 'quiet_hours', '2026-06-11T06:00:00.000Z');
    assert.match(d.action === 'defer' ? d.message : '', /between 21:00 and 08:00 in Europe\/Berlin/);
    // The same instant is 16:30 in New York: no quiet hours there.
    const ny = facts({ traits: { ...facts().traits, timezone: 'America/New_York' } });
    assert.equal(decide(g, message({ channel: 'sms' }), ny, night).action, 'send');
  });

  test('does not hold back transactional messages or channels outside the rule', () => {
    const night = at('2026-06-10T20:30:00Z');
    assert.equal(
      decide(g, message({ category: 'transactional', channel: 'sms' }), facts(), night).action,
      'send',
    );
    assert.equal(decide(g, message({ channel: 'inapp' }), facts(), night).action, 'send');
  });

  test('ends quiet hours exactly at their end', () => {
    const end = at('2026-06-11T06:00:00Z');
    assert.equal(decide(g, message(), facts(), end).action, 'send');
    expectDefer(decide(g, message(), facts(), end - 1), 'quiet_hours', iso(end));
  });

  test('uses the workspace default zone when the profile has none or an unknown one', () => {
    const g2 = rules({
      ...NONE,
      timeZone: { default: 'Asia/Tokyo' },
      quietHours: [{ start: '22:00', end: '07:00' }],
    });
    const t = at('2026-06-10T14:00:00Z'); // 23:00 in Tokyo
    for (const timezone of [undefined, 'Mars/Olympus_Mons', 42]) {
      const f = facts({ traits: { timezone, consent: facts().traits.consent } });
      expectDefer(decide(g2, message(), f, t), 'quiet_hours', '2026-06-10T22:00:00.000Z');
    }
  });

  test('chains overlapping quiet hours to the first instant outside all of them', () => {
    const g2 = rules({
      ...NONE,
      quietHours: [
        { start: '21:00', end: '08:00' },
        { start: '07:30', end: '09:00', channels: ['sms'] },
      ],
    });
    expectDefer(
      decide(g2, message({ channel: 'sms' }), facts(), at('2026-06-10T20:00:00Z')),
      'quiet_hours',
      '2026-06-11T07:00:00.000Z',
    );
    expectDefer(
      decide(g2, message({ channel: 'email' }), facts(), at('2026-06-10T20:00:00Z')),
      'quiet_hours',
      '2026-06-11T06:00:00.000Z',
    );
  });

  const sto = rules({
    ...NONE,
    quietHours: [{ start: '21:00', end: '08:00' }],
    sendTime: { trait: 'best_hour', maxDelay: '24h' },
  });
  const reader = (best: unknown, where: 'traits' | 'computed' = 'traits') =>
    where === 'traits'
      ? facts({ traits: { ...facts().traits, best_hour: best } })
      : facts({ computed: { best_hour: best } });

  test("waits for the profile's best hour", () => {
    const d = decide(sto, message({ createdAt: NOW }), reader(19), NOW);
    expectDefer(d, 'send_time', '2026-06-10T17:00:00.000Z');
    assert.match(d.action === 'defer' ? d.message : '', /best hour \(19:00 in Europe\/Berlin\)/);
    expectDefer(
      decide(sto, message({ createdAt: NOW }), reader('18.5', 'computed'), NOW),
      'send_time',
      '2026-06-10T16:30:00.000Z',
    );
  });

  test('sends at once within the best hour, and when the trait is missing or nonsense', () => {
    const seven = at('2026-06-10T17:20:00Z');
    assert.equal(decide(sto, message({ createdAt: NOW }), reader(19), seven).action, 'send');
    for (const v of [undefined, 'soon', 24, -1]) {
      assert.equal(decide(sto, message({ createdAt: NOW }), reader(v), NOW).action, 'send');
    }
  });

  test('never waits past the longest delay counted from when the message was created', () => {
    const created = NOW - 20 * HOUR;
    // Best hour 19:00 today is 27 hours after creation: send now instead.
    assert.equal(decide(sto, message({ createdAt: created }), reader(19), NOW).action, 'send');
  });

  test('lets quiet hours win over a best hour at night, and picks the best hour after quiet hours', () => {
    expectDefer(
      decide(sto, message({ createdAt: NOW }), reader(23), at('2026-06-10T20:00:00Z')),
      'quiet_hours',
      '2026-06-11T06:00:00.000Z',
    );
    // At 22:00 a reader of 09:00 gets it at 09:00, not at 08:00 when quiet hours end.
    const t = at('2026-06-10T20:00:00Z');
    expectDefer(
      decide(sto, message({ createdAt: t }), reader(9), t),
      'send_time',
      '2026-06-11T07:00:00.000Z',
    );
  });
});

describe('provider rate limits', () => {
  const g = rules({
    ...NONE,
    rateLimits: [{ provider: 'sms-gateway', channels: ['sms'], rate: 10, per: '1s', burst: 20 }],
  });
  const f = (tokens: number, updatedAt: number) =>
    facts({ providers: { 'sms-gateway': { tokens, updatedAt } } });

  test('sends while the bucket holds a token, and defers to the instant the next one arrives', () => {
    assert.equal(
      decide(g, message({ channel: 'sms', category: 'transactional' }), facts(), NOW).action,
      'send',
    );
    assert.equal(
      decide(g, message({ channel: 'sms', category: 'transactional' }), f(1, NOW), NOW).action,
      'send',
    );
    const d = decide(g, message({ channel: 'sms', category: 'transactional' }), f(0.25, NOW), NOW);
    expectDefer(d, 'rate_limit', iso(NOW + 75));
    assert.match(d.action === 'defer' ? d.message : '', /provider 'sms-gateway' allows 10 messages per 1s/);
    assert.equal(decide(g, message({ channel: 'email' }), f(0, NOW), NOW).action, 'send');
  });
});

describe('precedence', () => {
  const g = rules({
    suppression: [{ segments: ['ticket'] }],
    rateLimits: [{ provider: 'smtp', channels: ['email'], rate: 1, per: '1m' }],
  });
  const night = at('2026-06-10T21:00:00Z');
  const sent = delivery('email', 'promotional', night - HOUR, { template: 'ev-offer', contentHash: 'h' });
  const everything = facts({
    traits: { timezone: 'Europe/Berlin', consent: { email: { promotional: false } } },
    segments: ['ticket'],
    deliveries: [sent],
    contentHash: 'h',
    providers: { smtp: { tokens: 0, updatedAt: night } },
  });

  test('applies consent, suppression, de-duplication, caps, quiet hours, rate limits in that order', () => {
    const steps: [string, Partial<typeof everything>][] = [
      ['consent_denied', {}],
      ['suppressed', { traits: { ...everything.traits, consent: {} } }],
      ['duplicate', { segments: [] }],
      ['frequency_cap', { contentHash: 'other' }],
      ['quiet_hours', { deliveries: [] }],
    ];
    let f = everything;
    for (const [reason, change] of steps) {
      f = { ...f, ...change };
      assert.equal(decide(g, message(), f, night).reason, reason);
    }
    const morning = at('2026-06-11T08:00:00Z');
    f = { ...f, providers: { smtp: { tokens: 0, updatedAt: morning } } };
    assert.equal(decide(g, message(), f, morning).reason, 'rate_limit');
    f = { ...f, providers: {} };
    assert.equal(decide(g, message(), f, morning).action, 'send');
  });
});
