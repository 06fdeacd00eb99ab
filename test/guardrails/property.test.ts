/**
 * Properties of following the guardrails' decisions, on random rules and random bursts of
 * messages: no cap is ever exceeded in any rolling window, nothing in scope goes out in quiet
 * hours, every deferral moves time forward and every message is finally sent or skipped.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CHANNELS, type Channel, type MessageCategory } from '../../src/channels/outbound.ts';
import { inDailyWindow, localTime } from '../../src/core/wall-clock.ts';
import { DeliveryHistory } from '../../src/guardrails/delivery-history.ts';
import { at, dispatch, HOUR, message, rules } from './helpers.ts';

const ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'UTC'] as const;
const T0 = at('2026-03-20T00:00:00Z'); // spans the March and April daylight-saving changes

const capArb = fc.record({
  max: fc.integer({ min: 1, max: 4 }),
  hours: fc.integer({ min: 1, max: 24 * 7 }),
  perChannel: fc.boolean(),
  onExceed: fc.constantFrom('skip', 'defer'),
  channels: fc.option(fc.subarray([...CHANNELS], { minLength: 1 }), { nil: undefined }),
  transactional: fc.boolean(),
});
const clock = (m: number) =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

describe('following the decisions', () => {
  test('never exceeds a cap in any window and never sends in quiet hours', () => {
    fc.assert(
      fc.property(
        fc.array(capArb, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 30, max: 720 }),
        fc.constantFrom(...ZONES),
        fc.array(
          fc.record({
            gapMinutes: fc.integer({ min: 0, max: 600 }),
            channel: fc.constantFrom<Channel>(...CHANNELS),
            category: fc.constantFrom<MessageCategory>('promotional', 'promotional', 'transactional'),
          }),
          { minLength: 1, maxLength: 80 },
        ),
        (caps, quietStart, quietLength, zone, stream) => {
          const quietEnd = (quietStart + quietLength) % 1440;
          const g = rules({
            consent: { promotional: 'granted', channels: {} },
            dedupe: [],
            sendTime: null,
            frequencyCaps: caps.map((c) => ({
              max: c.max,
              window: `${c.hours}h`,
              perChannel: c.perChannel,
              onExceed: c.onExceed,
              ...(c.channels ? { channels: c.channels } : {}),
              ...(c.transactional ? { categories: ['transactional', 'promotional'] } : {}),
            })),
            quietHours: [{ start: clock(quietStart), end: clock(quietEnd) }],
          });
          let t = T0;
          const messages = stream.map((s) => {
            t += s.gapMinutes * 60_000;
            return message({ profileId: 'p', channel: s.channel, category: s.category, createdAt: t });
          });
          const outcomes = dispatch(
            g,
            messages,
            { traits: { timezone: zone }, segments: [] },
            new DeliveryHistory({ retentionMs: g.retentionMs, maxEntries: 500 }),
          );
          assert.equal(outcomes.length, messages.length, 'every message is settled');
          const sent = outcomes.filter((o) => o.action === 'send');
          for (const o of outcomes) {
            for (const d of o.deferred) assert.ok(d.until > o.message.createdAt, 'deferral moves forward');
          }
          for (const s of sent) {
            if (s.message.category === 'promotional') {
              const local = localTime(zone, s.at).minuteOfDay;
              assert.ok(
                !inDailyWindow(local, quietStart, quietEnd),
                `sent at ${local} min local in quiet hours`,
              );
            }
            for (const c of caps) {
              const categories = c.transactional ? ['transactional', 'promotional'] : ['promotional'];
              const listed = (ch: Channel) => !c.channels || c.channels.includes(ch);
              const counts = (ch: Channel, cat: MessageCategory) =>
                categories.includes(cat) && (c.perChannel ? ch === s.message.channel : listed(ch));
              if (!listed(s.message.channel) || !counts(s.message.channel, s.message.category)) continue;
              const inWindow = sent.filter(
                (o) =>
                  o.at > s.at - c.hours * HOUR &&
                  o.at <= s.at &&
                  counts(o.message.channel, o.message.category),
              );
              assert.ok(
                inWindow.length <= c.max,
                `${inWindow.length} sends within ${c.hours}h, cap ${c.max}`,
              );
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
