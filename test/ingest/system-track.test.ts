/**
 * The events the product makes itself (segment announcements) are built directly, not through
 * `normalizeMessage`; the two must agree, field for field and in the stored message, or the log
 * would hold two shapes of the same event.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { JsonObject } from '../../src/core/event.ts';
import { asSourceId, DEFAULT_WORKSPACE } from '../../src/core/ids.ts';
import { bodyOf, type NormalizeContext, normalizeMessage, systemTrack } from '../../src/ingest/normalize.ts';

const MIN = Date.UTC(2000, 0, 1);
const MAX = Date.UTC(2100, 0, 1);

test('systemTrack makes the event normalizeMessage makes of the same track message', () => {
  fc.assert(
    fc.property(
      fc.record({
        event: fc.string({ minLength: 1 }),
        who: fc.oneof(
          fc.record({ userId: fc.string({ minLength: 1 }), anonymousId: fc.constant(null) }),
          fc.record({ userId: fc.constant(null), anonymousId: fc.string({ minLength: 1 }) }),
        ),
        properties: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean()), {
          noNullPrototype: true,
        }),
        at: fc.integer({ min: MIN, max: MAX }),
        receivedAt: fc.integer({ min: MIN, max: MAX }),
        messageId: fc.string({ minLength: 1 }),
      }),
      ({ event, who, properties, at, receivedAt, messageId }) => {
        const ctx: NormalizeContext = {
          workspaceId: DEFAULT_WORKSPACE,
          sourceId: asSourceId('src_system'),
          receivedAt,
          newMessageId: () => assert.fail('a message id is always given'),
        };
        const context = { library: { name: 'concierge-test' } };
        const message: JsonObject = {
          type: 'track',
          event,
          properties,
          timestamp: new Date(at).toISOString(),
          messageId,
          context,
        };
        if (who.userId !== null) message.userId = who.userId;
        else message.anonymousId = who.anonymousId;
        const expected = normalizeMessage(message, 'track', ctx);
        const made = systemTrack({ event, ...who, properties, at, messageId, context }, ctx);
        // The event's named fields, read as any reader reads them: a client's event also keeps its
        // message as an object, under a symbol; the product's writes its message out when read.
        const fields = (e: object) =>
          Object.fromEntries(Object.keys(expected).map((k) => [k, (e as Record<string, unknown>)[k]]));
        const { bodyJson: a, ...madeFields } = fields(made);
        const { bodyJson: b, ...expectedFields } = fields(expected);
        assert.deepEqual(madeFields, expectedFields);
        assert.deepEqual(JSON.parse(a as string), JSON.parse(b as string));
        assert.deepEqual(bodyOf(made), JSON.parse(b as string));
      },
    ),
    { numRuns: 2_000 },
  );
});

test('the stored message is what JSON.stringify makes of it, with frozen parts written out once', () => {
  const ctx: NormalizeContext = {
    workspaceId: DEFAULT_WORKSPACE,
    sourceId: asSourceId('src_system'),
    receivedAt: Date.UTC(2026, 10, 25, 3, 0, 0, 7),
    newMessageId: () => assert.fail('a message id is always given'),
  };
  const inner: JsonObject = { name: 'concierge-test' };
  // Frozen on the outside only: what it holds can still change, so its JSON is not kept.
  const shallow = Object.freeze({ library: inner }) as JsonObject;
  const deep = Object.freeze({ library: Object.freeze({ name: 'concierge-segments' }) }) as JsonObject;
  const properties = Object.freeze({ segment_key: 'big "spenders" \\ \u2028 ✓' }) as JsonObject;
  const at = Date.UTC(2026, 10, 24, 23, 59, 59, 999);
  for (const context of [shallow, deep, shallow, deep]) {
    for (const who of [
      { userId: 'u "1"\n', anonymousId: null },
      { userId: null, anonymousId: 'a-\u0000-1' },
    ]) {
      const t = { event: 'Segment Entered', ...who, properties, at, messageId: 'segment:k:p:1:in', context };
      const iso = new Date(at).toISOString();
      assert.equal(
        systemTrack(t, ctx).bodyJson,
        JSON.stringify({
          type: 'track',
          event: t.event,
          properties,
          timestamp: iso,
          messageId: t.messageId,
          context,
          userId: who.userId,
          anonymousId: who.anonymousId,
          originalTimestamp: iso,
          receivedAt: new Date(ctx.receivedAt).toISOString(),
        }),
      );
    }
    inner.name = `${inner.name}+`;
  }
});
