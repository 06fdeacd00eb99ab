import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { simulateCommand } from '../../src/cli/simulate-command.ts';
import type { SimulatedMessage, SimulateOptions } from '../../src/simulate/generator.ts';
import { simulate } from '../../src/simulate/generator.ts';

const DAY = 86_400_000;
const START = new Date('2025-03-01T00:00:00.000Z');

function digest(options: SimulateOptions): { count: number; hash: string } {
  const hash = createHash('sha256');
  let count = 0;
  for (const message of simulate(options)) {
    hash.update(JSON.stringify(message));
    hash.update('\n');
    count++;
  }
  return { count, hash: hash.digest('hex') };
}

let cached: SimulatedMessage[] | undefined;
/** 500 customers over 90 days, generated once and shared by the tests that inspect messages. */
function sample(): SimulatedMessage[] {
  cached ??= [...simulate({ customers: 500, seed: 7, start: START, days: 90 })];
  return cached;
}

function eventsNamed(messages: readonly SimulatedMessage[], event: string): SimulatedMessage[] {
  return messages.filter((m) => m.type === 'track' && m.event === event);
}

function prop(message: SimulatedMessage, key: string): unknown {
  return message.properties?.[key];
}

describe('simulate', () => {
  it('produces the same output byte for byte for the same options', () => {
    const options = { customers: 120, seed: 42, start: START, days: 30 };
    const a = digest(options);
    const b = digest({ ...options, start: new Date(START) });
    assert.ok(a.count > 1000, `expected a substantial stream, got ${a.count} messages`);
    assert.deepEqual(a, b);
  });

  it('produces different output for a different seed', () => {
    const a = digest({ customers: 60, seed: 1, start: START, days: 14 });
    const b = digest({ customers: 60, seed: 2, start: START, days: 14 });
    assert.notEqual(a.hash, b.hash);
  });

  it('keeps each customer independent of how many others are simulated', () => {
    const small = [...simulate({ customers: 20, seed: 3, start: START, days: 20 })];
    const large = [...simulate({ customers: 80, seed: 3, start: START, days: 20 })];
    const ids = new Set(large.map((m) => m.messageId));
    assert.ok(small.every((m) => ids.has(m.messageId)));
  });

  it('emits timestamps in non-decreasing order, all within [start, start + days)', () => {
    const messages = sample();
    const start = START.getTime();
    const end = start + 90 * DAY;
    let previous = start;
    for (const m of messages) {
      assert.match(m.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const ts = Date.parse(m.timestamp);
      assert.ok(ts >= previous, `${m.timestamp} comes after a later message`);
      assert.ok(ts < end, `${m.timestamp} is after the end of the period`);
      previous = ts;
    }
  });

  it('gives every message the fields the Segment spec requires for its type and a unique messageId', () => {
    const messages = sample();
    const ids = new Set<string>();
    for (const m of messages) {
      const where = `${m.type} ${m.messageId}`;
      assert.match(m.messageId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(!ids.has(m.messageId), `duplicate messageId ${m.messageId}`);
      ids.add(m.messageId);
      assert.ok(m.userId || m.anonymousId, `${where} has neither userId nor anonymousId`);
      assert.ok(['browser', 'mobile', 'server'].includes(m.context.channel), where);
      switch (m.type) {
        case 'track':
          assert.ok(typeof m.event === 'string' && m.event.length > 0, `${where} has no event`);
          assert.equal(typeof m.properties, 'object', where);
          break;
        case 'identify':
          assert.equal(typeof m.traits, 'object', where);
          break;
        case 'page':
          assert.ok(m.name && m.context.page?.url.startsWith('https://'), where);
          assert.equal(m.context.channel, 'browser', where);
          break;
        case 'screen':
          assert.ok(m.name, where);
          assert.equal(m.context.channel, 'mobile', where);
          assert.ok(m.context.app && m.context.device?.type && m.context.device.model, where);
          break;
        case 'group':
          assert.ok(m.groupId && m.userId, where);
          assert.equal(typeof m.traits, 'object', where);
          break;
        case 'alias':
          assert.ok(m.userId && m.previousId, where);
          break;
        default:
          assert.fail(`unexpected type ${String(m.type)}`);
      }
      if (m.context.channel !== 'server') {
        assert.ok(m.anonymousId && m.context.ip && m.context.userAgent, where);
        assert.ok(m.context.locale && m.context.timezone, where);
      } else {
        assert.ok(m.userId, `${where}: server-side messages are about known users`);
      }
      if (m.context.campaign)
        assert.ok(m.context.campaign.source && m.context.campaign.medium && m.context.campaign.name);
    }
  });

  it('never ships, delivers, refunds or asks for a review of an order before it was completed', () => {
    const messages = sample();
    const completed = new Map<string, number>();
    const delivered = new Map<string, number>();
    let checked = 0;
    for (const m of messages) {
      if (m.type !== 'track') continue;
      const orderId = prop(m, 'order_id');
      if (typeof orderId !== 'string') continue;
      const ts = Date.parse(m.timestamp);
      switch (m.event) {
        case 'Order Completed':
          completed.set(orderId, ts);
          break;
        case 'Order Shipped':
        case 'Order Cancelled':
        case 'Order Refunded':
          assert.ok(
            (completed.get(orderId) ?? Number.POSITIVE_INFINITY) <= ts,
            `${m.event} before its order`,
          );
          checked++;
          break;
        case 'Order Delivered':
          assert.ok((completed.get(orderId) ?? Number.POSITIVE_INFINITY) <= ts, 'delivered before ordered');
          delivered.set(orderId, ts);
          checked++;
          break;
        case 'Product Reviewed':
          assert.ok((delivered.get(orderId) ?? Number.POSITIVE_INFINITY) <= ts, 'reviewed before delivery');
          checked++;
          break;
      }
    }
    assert.ok(checked > 100, `only ${checked} fulfilment events checked`);
  });

  it('never cancels an order that shipped', () => {
    const shipped = new Set(eventsNamed(sample(), 'Order Shipped').map((m) => prop(m, 'order_id')));
    for (const m of eventsNamed(sample(), 'Order Cancelled')) assert.ok(!shipped.has(prop(m, 'order_id')));
  });

  it('keeps the earlier anonymousId in the identify call of a visitor who signs in, and the userId after', () => {
    const messages = sample();
    const anonymousBefore = new Map<string, number>();
    const identifiedAs = new Map<string, string>();
    let joined = 0;
    for (const m of messages) {
      if (!m.anonymousId) continue;
      const known = identifiedAs.get(m.anonymousId);
      if (m.type === 'identify' && m.userId) {
        if (known === undefined && (anonymousBefore.get(m.anonymousId) ?? 0) > 0) joined++;
        if (known !== undefined) assert.equal(known, m.userId, 'one device, one person');
        identifiedAs.set(m.anonymousId, m.userId);
        continue;
      }
      if (known !== undefined) assert.equal(m.userId, known, `${m.type} after sign-in lost the userId`);
      else if (!m.userId) anonymousBefore.set(m.anonymousId, (anonymousBefore.get(m.anonymousId) ?? 0) + 1);
    }
    assert.ok(joined >= 50, `only ${joined} anonymous histories were joined by an identify`);
  });

  it('has customers on two devices, and visitors who never identify', () => {
    const messages = sample();
    const devicesOf = new Map<string, Set<string>>();
    const identified = new Set<string>();
    const anonymous = new Set<string>();
    for (const m of messages) {
      if (!m.anonymousId) continue;
      anonymous.add(m.anonymousId);
      if (m.userId) {
        identified.add(m.anonymousId);
        const set = devicesOf.get(m.userId) ?? new Set<string>();
        set.add(m.anonymousId);
        devicesOf.set(m.userId, set);
      }
    }
    const twoDevices = [...devicesOf.values()].filter((s) => s.size >= 2).length;
    const neverIdentified = [...anonymous].filter((a) => !identified.has(a)).length;
    assert.ok(twoDevices >= 20, `only ${twoDevices} customers on two devices`);
    assert.ok(neverIdentified >= 30, `only ${neverIdentified} devices never identified`);
  });

  it('produces a realistic mix of identities, purchases, deliveries, tickets, workouts and engagement', () => {
    const messages = sample();
    const count = (event: string) => eventsNamed(messages, event).length;
    const types = new Set(messages.map((m) => m.type));
    for (const type of ['identify', 'track', 'page', 'screen', 'group', 'alias'])
      assert.ok(types.has(type as never), type);
    for (const event of [
      'Products Searched',
      'Product Viewed',
      'Product Added to Wishlist',
      'Product Added',
      'Cart Viewed',
      'Checkout Started',
      'Order Completed',
      'Order Shipped',
      'Order Delivered',
      'Product Reviewed',
      'Ticket Opened',
      'Ticket Resolved',
      'Workout Logged',
      'Email Delivered',
      'Email Opened',
      'Email Link Clicked',
      'Push Notification Received',
      'Push Notification Tapped',
      'Store Visited',
    ]) {
      assert.ok(count(event) > 0, `no ${event}`);
    }
    assert.ok(count('Order Completed') > 200);
    assert.ok(count('Order Cancelled') + count('Order Refunded') > 0);
    assert.ok(eventsNamed(messages, 'Ticket Opened').some((m) => prop(m, 'priority') === 'critical'));
    assert.ok(
      eventsNamed(messages, 'Workout Logged').every((m) => (prop(m, 'distance_miles') as number) > 0),
    );
    assert.ok(eventsNamed(messages, 'Store Visited').every((m) => typeof prop(m, 'store_id') === 'string'));
    const order = eventsNamed(messages, 'Order Completed')[0];
    const products = order?.properties?.products as Record<string, unknown>[] | undefined;
    assert.ok(products && products.length > 0);
    for (const key of ['product_id', 'sku', 'name', 'category', 'price', 'quantity'])
      assert.ok(key in (products[0] ?? {}));
    for (const key of ['order_id', 'total', 'revenue', 'currency'])
      assert.ok(key in (order?.properties ?? {}));
    const identify = messages.find((m) => m.type === 'identify' && m.traits?.email);
    for (const key of [
      'email',
      'first_name',
      'last_name',
      'phone',
      'timezone',
      'locale',
      'city',
      'country',
    ]) {
      assert.ok(key in (identify?.traits ?? {}), `identify traits lack ${key}`);
    }
    assert.ok(
      messages.some(
        (m) =>
          m.type === 'identify' &&
          (m.traits?.interested_in as string[] | undefined)?.includes('electric_vehicle'),
      ),
      'nobody told us they want an electric vehicle',
    );
  });

  it('repeats purchases of consumables', () => {
    const bought = new Map<string, number>();
    for (const m of eventsNamed(sample(), 'Order Completed')) {
      for (const line of (m.properties?.products ?? []) as { sku: string }[]) {
        const key = `${m.userId} ${line.sku}`;
        bought.set(key, (bought.get(key) ?? 0) + 1);
      }
    }
    const repeats = [...bought.values()].filter((n) => n >= 2).length;
    assert.ok(repeats >= 10, `only ${repeats} repeat purchases`);
  });

  it('is quieter at night in the customer’s own time zone', () => {
    const formats = new Map<string, Intl.DateTimeFormat>();
    let night = 0;
    let total = 0;
    for (const m of sample()) {
      if (m.type !== 'page' || !m.context.timezone) continue;
      let format = formats.get(m.context.timezone);
      if (!format) {
        format = new Intl.DateTimeFormat('en-GB', {
          timeZone: m.context.timezone,
          hour: 'numeric',
          hourCycle: 'h23',
        });
        formats.set(m.context.timezone, format);
      }
      const hour = Number(format.format(new Date(m.timestamp)));
      total++;
      if (hour >= 1 && hour < 6) night++;
    }
    assert.ok(total > 1000);
    assert.ok(
      night / total < 0.06,
      `${((night / total) * 100).toFixed(1)}% of page views between 01:00 and 06:00`,
    );
  });

  it('streams 2,000 customers without building the whole output first', () => {
    const stream = simulate({ customers: 2000, seed: 11, start: START, days: 14 });
    const first = stream.next();
    assert.equal(first.done, false, 'the first message arrives before the rest are generated');
    let count = 1;
    for (const _ of stream) count++;
    assert.ok(count > 20_000, `only ${count} messages`);
  });

  it('rejects invalid options with a clear error', () => {
    const run = (options: Partial<SimulateOptions>) => () =>
      simulate({ customers: 1, seed: 1, start: START, days: 1, ...options }).next();
    assert.throws(run({ customers: 0 }), /customers must be a positive integer/);
    assert.throws(run({ days: 1.5 }), /days must be a positive integer/);
    assert.throws(run({ start: new Date('nope') }), /start must be a valid date/);
  });
});

describe('simulate command', () => {
  const run = async (args: string[]): Promise<{ error?: string }> => {
    const command = simulateCommand()
      .exitOverride()
      .configureOutput({ writeErr: () => {}, writeOut: () => {} });
    try {
      await command.parseAsync(args, { from: 'user' });
      return {};
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  };

  it('rejects options that are not what they should be, with a one-line reason', async () => {
    const cases: [string[], RegExp][] = [
      [['--customers', 'abc'], /--customers must be a positive integer, got 'abc'/],
      [['--customers', '0'], /--customers must be a positive integer, got '0'/],
      [['--days', '-3'], /--days must be a positive integer, got '-3'/],
      [['--seed', '1.5'], /--seed must be a non-negative integer, got '1.5'/],
      [['--start', 'last tuesday'], /--start must be an ISO 8601 date/],
      [['--send', 'ftp://example.com', '--write-key', 'k'], /--send must be an http\(s\) URL/],
    ];
    for (const [args, expected] of cases) {
      const { error } = await run(args);
      assert.match(error ?? '', expected);
      assert.ok(!(error ?? '').includes('\n'), 'one line');
    }
  });

  it('writes the generated messages as NDJSON to --out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'simulate-'));
    const file = join(dir, 'out.ndjson');
    const writeStderr = process.stderr.write;
    let summary = '';
    process.stderr.write = ((chunk: string) => {
      summary += chunk;
      return true;
    }) as typeof process.stderr.write;
    try {
      const { error } = await run([
        '--customers',
        '25',
        '--days',
        '7',
        '--seed',
        '5',
        '--start',
        '2025-03-01',
        '--out',
        file,
      ]);
      assert.equal(error, undefined);
    } finally {
      process.stderr.write = writeStderr;
    }
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const expected = [...simulate({ customers: 25, seed: 5, start: START, days: 7 })].map((m) =>
      JSON.stringify(m),
    );
    assert.deepEqual(lines, expected);
    assert.match(
      summary,
      new RegExp(`simulated 25 customers: ${expected.length.toLocaleString('en-US')} messages`),
    );
    rmSync(dir, { recursive: true, force: true });
  });
});
