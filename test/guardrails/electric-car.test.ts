/**
 * The electric-car story: a customer told us she wants an electric car. A burst of promotional
 * triggers across e-mail, SMS and push — some about the wrong offer — yields only what consent
 * and the caps allow; everything else is skipped or deferred with a reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Channel, MessageCategory, OutboundMessage } from '../../src/channels/outbound.ts';
import { localTime } from '../../src/core/wall-clock.ts';
import { DeliveryHistory } from '../../src/guardrails/delivery-history.ts';
import { at, DAY, dispatch, message, type Outcome, rules } from './helpers.ts';

const g = rules({ suppression: [{ id: 'critical-ticket', segments: ['open_critical_ticket'] }] });
const eva = {
  traits: {
    timezone: 'Europe/Berlin',
    interested_in: 'electric_vehicle',
    consent: {
      email: { promotional: true, topics: { ev_offers: true, combustion_offers: false } },
      push: { promotional: true },
      // Nothing for SMS: the workspace policy asks for explicit opt-in there.
    },
  },
  segments: ['ev_intenders'],
};

/** One burst: ten e-mails (six about the wrong car), four SMS "calls", four pushes, one receipt. */
function burst(start: number, day: number): OutboundMessage[] {
  const out: OutboundMessage[] = [];
  const add = (
    channel: Channel,
    template: string,
    topic: string,
    category: MessageCategory = 'promotional',
  ) =>
    out.push(
      message({
        id: `d${day}-${out.length}`,
        profileId: 'eva',
        channel,
        template,
        topic,
        category,
        createdAt: start + out.length * 60_000,
      }),
    );
  for (let i = 0; i < 10; i++)
    add(
      'email',
      i % 5 < 3 ? `diesel-deal-${i}` : `ev-offer-${i}`,
      i % 5 < 3 ? 'combustion_offers' : 'ev_offers',
    );
  for (let i = 0; i < 4; i++) add('sms', `dealer-call-${i}`, 'ev_offers');
  for (let i = 0; i < 4; i++) add('push', `ev-push-${i}`, 'ev_offers');
  add('email', 'test-drive-booked', 'service', 'transactional');
  return out;
}

const count = (outcomes: readonly Outcome[], pred: (o: Outcome) => boolean) => outcomes.filter(pred).length;
const promoSent = (o: Outcome) => o.action === 'send' && o.message.category === 'promotional';

describe('the electric-car story', () => {
  test('one burst sends one promotional message and the receipt; the rest is skipped with reasons', () => {
    const outcomes = dispatch(
      g,
      burst(at('2026-06-08T08:00:00Z'), 1),
      eva,
      new DeliveryHistory({ retentionMs: 7 * DAY, maxEntries: 500 }),
    );
    assert.equal(outcomes.length, 19);
    const sent = outcomes.filter((o) => o.action === 'send').map((o) => o.message.template);
    assert.deepEqual(sent, ['ev-offer-3', 'test-drive-booked']);
    const reasons: Record<string, number> = {};
    for (const o of outcomes) if (o.action === 'skip') reasons[o.reason] = (reasons[o.reason] ?? 0) + 1;
    assert.deepEqual(reasons, { consent_topic_denied: 6, consent_missing: 4, frequency_cap: 7 });
    const capped = outcomes.find((o) => o.reason === 'frequency_cap')!;
    assert.equal(
      capped.text,
      'frequency_cap: 1 promotional message per 1d across all channels already sent at 2026-06-08T08:03:00.000Z (email)',
    );
    assert.match(
      outcomes.find((o) => o.message.channel === 'sms')!.text,
      /promotional sms .* needs explicit consent/,
    );
  });

  test('two weeks of bursts at night and in the morning stay within one a day and three a week, never at night', () => {
    const messages: OutboundMessage[] = [];
    for (let day = 0; day < 14; day++) {
      // 22:30 in Berlin on even days, 10:00 on odd days.
      const start = day % 2 === 0 ? at('2026-06-08T20:30:00Z') : at('2026-06-08T08:00:00Z');
      messages.push(...burst(start + day * DAY, day));
    }
    const outcomes = dispatch(
      g,
      messages,
      eva,
      new DeliveryHistory({ retentionMs: 7 * DAY, maxEntries: 500 }),
    );
    assert.equal(outcomes.length, messages.length, 'every message is decided for good, none left waiting');

    const sends = outcomes.filter(promoSent).map((o) => o.at);
    for (const t of sends) {
      assert.equal(
        count(outcomes, (o) => promoSent(o) && o.at > t - DAY && o.at <= t),
        1,
        'one a day',
      );
      assert.ok(count(outcomes, (o) => promoSent(o) && o.at > t - 7 * DAY && o.at <= t) <= 3, 'three a week');
      const hour = localTime('Europe/Berlin', t).hour;
      assert.ok(hour >= 8 && hour < 21, `sent at ${hour}h local`);
    }
    assert.equal(sends.length, 6, 'three in each rolling week of the fortnight');
    // Wrong offers and unconsented SMS never go out; every receipt does, even at night.
    assert.equal(
      count(outcomes, (o) => o.action === 'send' && o.message.topic === 'combustion_offers'),
      0,
    );
    assert.equal(
      count(outcomes, (o) => o.action === 'send' && o.message.channel === 'sms'),
      0,
    );
    assert.equal(
      count(outcomes, (o) => o.action === 'send' && o.message.category === 'transactional'),
      14,
    );
    // Night triggers were deferred to the morning, not dropped, before the caps judged them.
    const night = outcomes.filter((o) => o.deferred.some((d) => d.reason === 'quiet_hours'));
    assert.ok(night.length > 0, 'some night triggers were deferred');
    for (const o of night) assert.equal(localTime('Europe/Berlin', o.at).hour, 8);
    for (const o of outcomes) if (o.action === 'skip') assert.match(o.text, /^[a-z_]+: .+/);
  });

  test('an open critical ticket stops every offer until it is resolved, but not the receipt', () => {
    const ticket = { ...eva, segments: ['ev_intenders', 'open_critical_ticket'] };
    const outcomes = dispatch(
      g,
      burst(at('2026-06-08T08:00:00Z'), 1),
      ticket,
      new DeliveryHistory({ retentionMs: 7 * DAY, maxEntries: 500 }),
    );
    assert.deepEqual(
      outcomes.filter((o) => o.action === 'send').map((o) => o.message.template),
      ['test-drive-booked'],
    );
    assert.equal(
      count(outcomes, (o) => o.reason === 'suppressed'),
      8,
    );
  });
});
