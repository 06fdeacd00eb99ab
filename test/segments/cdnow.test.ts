/**
 * Computed traits and segments on real purchases: the CDNOW transactions (69,659 purchases of
 * 23,570 customers, 1997–1998; ../shared/data/CDNOW_master.txt) sent through the tracking API as
 * `Order Completed` events. Order counts, revenue, the average interval between purchases and the
 * predicted next purchase, and the sizes of segments on them, are checked against the same figures
 * worked out straight from the file. Two traits are defined before the purchases arrive (kept up
 * to date as they come) and two after (computed from the log).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { VirtualClock } from '../../src/core/clock.ts';
import { admin, findProfile, type InProcessServer, postTracking, startApp } from '../helpers/server.ts';

const DATA = resolve(import.meta.dirname, '../../../shared/data');
const DAY = 86_400_000;
/** The day after the last purchase in the file. */
const NOW = Date.UTC(1998, 6, 1);

interface Purchase {
  readonly line: number;
  readonly customer: string;
  readonly at: number;
  readonly cds: number;
  readonly dollars: number;
}

/** `customer_id date number_of_cds dollar_value` (the date as YYYYMMDD), whitespace-separated. */
function readPurchases(): Purchase[] {
  const text = readFileSync(resolve(DATA, 'CDNOW_master.txt'), 'utf8');
  const out: Purchase[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const f = raw.trim().split(/\s+/);
    // The header row, and the empty line at the end.
    if (f.length !== 4 || !/^\d{8}$/.test(f[1]!)) continue;
    const [id, date, cds, dollars] = f as [string, string, string, string];
    out.push({
      line: i + 1,
      customer: `cdnow-${id}`,
      at: Date.UTC(Number(date.slice(0, 4)), Number(date.slice(4, 6)) - 1, Number(date.slice(6, 8))),
      cds: Number(cds),
      dollars: Number(dollars),
    });
  }
  return out;
}

/** What the traits should read, worked out from the file alone. */
interface Expected {
  orders: number;
  revenue: number;
  interval: number | null;
  next: string | null;
}

function expectedOf(purchases: readonly Purchase[]): Map<string, Expected> {
  const by = new Map<string, Purchase[]>();
  for (const p of purchases) {
    const list = by.get(p.customer) ?? [];
    list.push(p);
    by.set(p.customer, list);
  }
  const out = new Map<string, Expected>();
  for (const [customer, list] of by) {
    const times = list.map((p) => p.at).sort((a, b) => a - b);
    const n = times.length;
    const gap = n < 2 ? null : (times[n - 1]! - times[0]!) / (n - 1);
    out.set(customer, {
      orders: n,
      revenue: list.reduce((s, p) => s + p.dollars, 0),
      interval: gap === null ? null : Math.round((gap / DAY) * 100) / 100,
      next: gap === null ? null : new Date(Math.round(times[n - 1]! + gap)).toISOString(),
    });
  }
  return out;
}

describe('computed traits and segments on the CDNOW purchases', () => {
  const clock = new VirtualClock(NOW);
  let server: InProcessServer;
  const purchases = readPurchases();
  const expected = expectedOf(purchases);
  const put = async (path: string, body: unknown) => {
    const r = await admin(server.url, 'PUT', `${path}?wait=120`, body);
    assert.ok(r.status === 200 || r.status === 201, `${path}: ${JSON.stringify(r.body)}`);
    return r.body as { size?: number; status?: string };
  };

  before(async () => {
    server = await startApp({ clock });
    // Two traits before the purchases arrive: maintained one commit at a time.
    await put('/api/computed-traits/orders', { event: 'Order Completed', aggregate: 'count' });
    await put('/api/computed-traits/interval', { event: 'Order Completed', aggregate: 'purchase_interval' });
    for (let i = 0; i < purchases.length; i += 500) {
      const batch = purchases.slice(i, i + 500).map((p) => ({
        type: 'track',
        userId: p.customer,
        event: 'Order Completed',
        messageId: `cdnow-line-${p.line}`,
        timestamp: new Date(p.at).toISOString(),
        properties: { revenue: p.dollars, quantity: p.cds },
      }));
      const r = await postTracking(server.url, '/v1/batch', { batch });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    await server.app.ingest.drain();
    // Two after: computed from the log.
    await put('/api/computed-traits/revenue', {
      event: 'Order Completed',
      aggregate: 'sum',
      property: 'revenue',
    });
    await put('/api/computed-traits/next', { event: 'Order Completed', aggregate: 'next_purchase' });
  });
  after(async () => {
    await server?.close();
  });

  test('the file holds what its description says', () => {
    assert.equal(purchases.length, 69_659);
    assert.equal(expected.size, 23_570);
  });

  test('segment sizes over every customer match counts made from the file', async () => {
    const count = (f: (e: Expected) => boolean) => [...expected.values()].filter(f).length;
    // Thresholds that no customer's revenue sits within a cent of, so that the order in which
    // the amounts are added cannot move anyone across.
    assert.equal(
      count((e) => Math.abs(e.revenue - 150) < 0.01 || Math.abs(e.revenue - 500) < 0.01),
      0,
    );
    const cases: [string, unknown, number][] = [
      ['repeat', { computed: 'orders', op: 'gte', value: 2 }, count((e) => e.orders >= 2)],
      [
        'monthly',
        { computed: 'interval', op: 'lte', value: 30 },
        count((e) => e.interval !== null && e.interval <= 30),
      ],
      ['spent-150', { computed: 'revenue', op: 'gte', value: 150 }, count((e) => e.revenue >= 150)],
      [
        'loyal-big',
        { all: [{ segment: 'repeat' }, { computed: 'revenue', op: 'gte', value: 500 }] },
        count((e) => e.orders >= 2 && e.revenue >= 500),
      ],
      [
        'due-before-1998-08',
        { computed: 'next', op: 'before', value: '1998-08-01' },
        count((e) => e.next !== null && e.next < '1998-08-01'),
      ],
      [
        'bought-last-90d',
        { event: 'Order Completed', within: '90d' },
        // An event counts while it is younger than the window: timestamp > now − 90 days.
        [...expectedLast(purchases).values()].filter((last) => last > NOW - 90 * DAY).length,
      ],
    ];
    for (const [key, definition, size] of cases) {
      assert.ok(size > 0, `${key}: the file has members`);
      const s = await put(`/api/segments/${key}`, definition);
      assert.equal(s.status, 'ready', key);
      assert.equal(s.size, size, `${key}: ${JSON.stringify(definition)}`);
    }
  });

  test("a sample of customers' computed traits match the file", async () => {
    const customers = [...expected.keys()].filter((_, i) => i % 47 === 0);
    assert.ok(customers.length > 400);
    for (const customer of customers) {
      const p = (await findProfile(server.url, 'userId', customer)) as { computed: Record<string, unknown> };
      const e = expected.get(customer)!;
      assert.equal(p.computed.orders, e.orders, customer);
      assert.equal(p.computed.interval, e.interval, customer);
      assert.equal(p.computed.next, e.next, customer);
      assert.ok(
        Math.abs((p.computed.revenue as number) - e.revenue) < 1e-6,
        `${customer}: ${p.computed.revenue}`,
      );
    }
  });
});

/** Each customer's last purchase. */
function expectedLast(purchases: readonly Purchase[]): Map<string, number> {
  const last = new Map<string, number>();
  for (const p of purchases) last.set(p.customer, Math.max(last.get(p.customer) ?? 0, p.at));
  return last;
}
