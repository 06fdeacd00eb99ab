/**
 * The retail world of the segments benchmark: event names and their share of traffic, property
 * values, and 100 segments with 8 computed traits of the kind a retailer runs.
 */
const DAY = 86_400_000;

export const PLANS = ['free', 'pro', 'team'];
export const COUNTRIES = ['DE', 'FR', 'GB', 'US', 'NL', 'ES'];
export const CATEGORIES = ['Running', 'Yoga', 'Outdoor', 'Home', 'Kitchen'];
/** Event names with their share of the traffic. */
export const MIX: [string, number][] = [
  ['Product Viewed', 30],
  ['Product Added', 10],
  ['Cart Viewed', 6],
  ['Checkout Started', 4],
  ['Order Completed', 5],
  ['Order Delivered', 3],
  ['Order Refunded', 0.5],
  ['Email Opened', 12],
  ['Email Clicked', 4],
  ['Push Opened', 4],
  ['Workout Completed', 8],
  ['Wishlist Added', 3],
  ['Store Visited', 2],
  ['Support Ticket Opened', 0.5],
  ['Review Submitted', 1],
  ['Search Performed', 7],
];
const MIX_TOTAL = MIX.reduce((s, [, w]) => s + w, 0);

export function pickName(r: number): string {
  let x = r * MIX_TOTAL;
  for (const [name, w] of MIX) {
    x -= w;
    if (x < 0) return name;
  }
  return MIX[0]![0];
}

export function properties(name: string, r: () => number): Record<string, unknown> {
  switch (name) {
    case 'Order Completed':
    case 'Order Refunded':
      return {
        order_id: `o-${Math.floor(r() * 1e9)}`,
        revenue: Math.round(r() * 30000) / 100,
        category: CATEGORIES[Math.floor(r() * 5)],
      };
    case 'Product Viewed':
    case 'Product Added':
    case 'Wishlist Added':
      return {
        product_id: `sku-${Math.floor(r() * 5000)}`,
        price: Math.round(r() * 20000) / 100,
        category: CATEGORIES[Math.floor(r() * 5)],
      };
    case 'Workout Completed':
      return { miles: Math.round(r() * 150) / 10, sport: r() < 0.6 ? 'running' : 'cycling' };
    case 'Email Opened':
    case 'Email Clicked':
      return { campaign: `c-${Math.floor(r() * 40)}` };
    case 'Review Submitted':
      return { rating: 1 + Math.floor(r() * 5), product_id: `sku-${Math.floor(r() * 5000)}` };
    case 'Support Ticket Opened':
      return { priority: r() < 0.2 ? 'critical' : 'normal' };
    default:
      return {};
  }
}

/** 100 segments and 8 computed traits, the kind a retailer runs. */
export function definitions(NOW: number): {
  segments: Record<string, unknown>;
  computed: Record<string, unknown>;
} {
  const computed: Record<string, unknown> = {
    lifetime_value: { event: 'Order Completed', aggregate: 'sum', property: 'revenue', within: '90d' },
    orders_90d: { event: 'Order Completed', aggregate: 'count', within: '90d' },
    avg_order_value: { event: 'Order Completed', aggregate: 'avg', property: 'revenue', within: '90d' },
    days_since_order: { event: 'Order Completed', aggregate: 'days_since_last' },
    favourite_category: {
      event: 'Product Viewed',
      aggregate: 'most_frequent',
      property: 'category',
      within: '30d',
    },
    purchase_interval: { event: 'Order Completed', aggregate: 'purchase_interval' },
    next_purchase: { event: 'Order Completed', aggregate: 'next_purchase' },
    miles_30d: { event: 'Workout Completed', aggregate: 'sum', property: 'miles', within: '30d' },
  };
  const s: Record<string, unknown> = {};
  const windows = ['1d', '7d', '14d', '30d', '60d'];
  let k = 0;
  // 30 behavioural counts with filters.
  for (const [name] of MIX.slice(0, 15)) {
    s[`did-${k++}`] = { event: name, within: windows[k % 5] };
    s[`did-${k++}`] = { event: name, count: { op: 'gte', value: 2 + (k % 3) }, within: windows[(k + 2) % 5] };
  }
  // 10 with property filters.
  for (const c of CATEGORIES) {
    s[`viewed-${c.toLowerCase()}`] = {
      event: 'Product Viewed',
      where: [{ property: 'category', op: 'eq', value: c }],
      within: '14d',
    };
    s[`bought-${c.toLowerCase()}`] = {
      event: 'Order Completed',
      where: [
        { property: 'category', op: 'eq', value: c },
        { property: 'revenue', op: 'gt', value: 50 },
      ],
      within: '60d',
    };
  }
  // 15 "did not".
  for (let i = 0; i < 15; i++) {
    const [name] = MIX[i]!;
    s[`lapsed-${i}`] = {
      all: [
        { event: 'Email Opened', within: '30d' },
        { event: name, count: { op: 'eq', value: 0 }, within: windows[i % 5] },
      ],
    };
  }
  // 20 on traits.
  for (const plan of PLANS) s[`plan-${plan}`] = { trait: 'plan', op: 'eq', value: plan };
  for (const c of COUNTRIES) s[`country-${c}`] = { trait: 'country', op: 'eq', value: c };
  s['eu-newsletter'] = {
    all: [
      { trait: 'country', op: 'in', value: ['DE', 'FR', 'NL', 'ES'] },
      { trait: 'newsletter', op: 'eq', value: true },
    ],
  };
  s['new-signups'] = { trait: 'signup_at', op: 'within_last', value: '30d' };
  s.veterans = { trait: 'signup_at', op: 'before', value: '2025-06-01' };
  for (const [lo, hi] of [
    [18, 25],
    [25, 35],
    [35, 50],
    [50, 65],
    [65, 99],
  ]) {
    s[`age-${lo}-${hi}`] = {
      all: [
        { trait: 'age', op: 'gte', value: lo },
        { trait: 'age', op: 'lt', value: hi },
      ],
    };
  }
  s['gmail-like'] = { trait: 'email', op: 'contains', value: '@example.' };
  s['no-phone'] = { trait: 'phone', op: 'not_exists' };
  s['pro-or-team'] = { trait: 'plan', op: 'in', value: ['pro', 'team'] };
  // 10 sequences.
  const seqs: [string, string, string][] = [
    ['Product Viewed', 'Product Added', '1d'],
    ['Product Added', 'Checkout Started', '1d'],
    ['Checkout Started', 'Order Completed', '1d'],
    ['Cart Viewed', 'Order Completed', '7d'],
    ['Email Clicked', 'Order Completed', '7d'],
    ['Push Opened', 'Order Completed', '7d'],
    ['Wishlist Added', 'Store Visited', '14d'],
    ['Store Visited', 'Order Completed', '7d'],
    ['Order Completed', 'Review Submitted', '30d'],
    ['Search Performed', 'Product Viewed', '1d'],
  ];
  for (const [i, [a, b, w]] of seqs.entries())
    s[`seq-${i}`] = { sequence: [{ event: a }, { event: b }], within: w };
  // 10 on computed traits.
  s['big-spenders'] = { computed: 'lifetime_value', op: 'gte', value: 500 };
  s['repeat-buyers'] = { computed: 'orders_90d', op: 'gte', value: 3 };
  s['high-aov'] = { computed: 'avg_order_value', op: 'gte', value: 150 };
  s['one-month-no-order'] = { computed: 'days_since_order', op: 'gte', value: 30 };
  s.runners = { computed: 'miles_30d', op: 'gte', value: 40 };
  s['loves-running'] = { computed: 'favourite_category', op: 'eq', value: 'Running' };
  s['due-soon'] = { computed: 'next_purchase', op: 'before', value: new Date(NOW + 7 * DAY).toISOString() };
  s['frequent-interval'] = { computed: 'purchase_interval', op: 'lte', value: 20 };
  s['cheap-buyers'] = { computed: 'avg_order_value', op: 'lt', value: 40 };
  s['no-orders'] = { computed: 'orders_90d', op: 'eq', value: 0 };
  // 5 combining others.
  s.vip = { all: [{ segment: 'big-spenders' }, { segment: 'repeat-buyers' }] };
  s['vip-lapsed'] = { all: [{ segment: 'vip' }, { segment: 'one-month-no-order' }] };
  s['critical-ticket'] = {
    event: 'Support Ticket Opened',
    where: [{ property: 'priority', op: 'eq', value: 'critical' }],
    within: '14d',
  };
  s['promo-ok'] = { all: [{ not: { segment: 'critical-ticket' } }, { segment: 'pro-or-team' }] };
  s['running-due'] = {
    all: [{ segment: 'loves-running' }, { segment: 'due-soon' }, { not: { segment: 'critical-ticket' } }],
  };
  const keys = Object.keys(s);
  if (keys.length !== 100) throw new Error(`expected 100 segments, made ${keys.length}`);
  return { segments: s, computed };
}
