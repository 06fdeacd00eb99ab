/**
 * The cost of one guardrail decision with 100 rules and realistic per-profile state: 10,000
 * profiles in a dozen time zones, each with up to 200 deliveries over the last 30 days, 10–30
 * segment memberships, consent traits, a best hour for some, and provider buckets.
 *
 *   node --import tsx bench/guardrails.ts [--decisions 200000]
 *
 * Also exported as `runGuardrailBench()` for `npm run bench:send`.
 */
import { parseArgs } from 'node:util';
import {
  CHANNELS,
  type Channel,
  type MessageCategory,
  type OutboundMessage,
} from '../src/channels/outbound.ts';
import { compileRules } from '../src/guardrails/compile-rules.ts';
import { decide } from '../src/guardrails/decide.ts';
import type { DeliveryRecord, GuardrailFacts, TokenBucket } from '../src/guardrails/facts.ts';
import { parseRules } from '../src/guardrails/parse-rules.ts';

export interface GuardrailBenchResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly decisionsPerSec: number;
  readonly rules: number;
  readonly decisions: number;
  readonly actions: Record<string, number>;
}

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-10T12:00:00Z');
const ZONES = [
  'Europe/Berlin',
  'Europe/London',
  'Europe/Paris',
  'America/New_York',
  'America/Chicago',
  'America/Los_Angeles',
  'America/Sao_Paulo',
  'Asia/Tokyo',
  'Asia/Kolkata',
  'Asia/Singapore',
  'Australia/Sydney',
  'Africa/Johannesburg',
];
const TOPICS = ['offers', 'ev_offers', 'newsletter', 'service', 'events', 'partner', 'loyalty', 'reviews'];
const JOURNEYS = Array.from({ length: 20 }, (_, i) => `journey-${i}`);
const SEGMENTS = Array.from({ length: 200 }, (_, i) => `segment-${i}`);
const TEMPLATES = Array.from({ length: 500 }, (_, i) => `template-${i}`);
/** Segments that suppress (an open critical ticket and the like): few profiles are in one. */
const SUPPRESSING = Array.from({ length: 40 }, (_, i) => `suppress-${i}`);
const MESSAGE_CHANNELS: readonly Channel[] = [
  'email',
  'email',
  'email',
  'sms',
  'push',
  'push',
  'webpush',
  'inapp',
];

/** A small seeded generator, so every run decides on the same world. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** 100 rules: 30 caps, 20 suppression, 20 dedupe, 15 quiet hours, 14 rate limits and send time. */
export function benchRules(): unknown {
  const rnd = random(7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const some = <T>(xs: readonly T[], n: number) => [...new Set(Array.from({ length: n }, () => pick(xs)))];
  const windows = ['1h', '6h', '1d', '3d', '7d', '14d', '30d'];
  return {
    consent: { promotional: 'granted', channels: { sms: 'denied' }, topics: { partner: 'denied' } },
    frequencyCaps: Array.from({ length: 30 }, (_, i) => ({
      id: `cap-${i}`,
      max: 1 + Math.floor(rnd() * 6),
      window: pick(windows),
      ...(i % 3 === 0 ? { perChannel: true } : {}),
      ...(i % 4 === 1 ? { channels: some(CHANNELS, 2) } : {}),
      ...(i % 5 === 2 ? { topics: some(TOPICS, 2) } : {}),
      ...(i % 6 === 3 ? { perJourney: true } : {}),
      ...(i % 10 === 4 ? { categories: ['transactional', 'promotional'], max: 20 } : {}),
    })),
    suppression: Array.from({ length: 20 }, (_, i) => ({
      id: `suppress-${i}`,
      segments: some(SUPPRESSING, 3),
      ...(i % 2 === 0 ? { journeys: some(JOURNEYS, 3) } : {}),
    })),
    dedupe: Array.from({ length: 20 }, (_, i) => ({
      id: `dedupe-${i}`,
      window: pick(windows),
      match: i % 2 === 0 ? 'content' : 'template',
      ...(i % 3 === 0 ? { channels: some(CHANNELS, 2) } : {}),
      ...(i % 4 === 0 ? { topics: some(TOPICS, 3) } : {}),
    })),
    quietHours: Array.from({ length: 15 }, (_, i) => ({
      id: `quiet-${i}`,
      start: `${String(19 + (i % 4)).padStart(2, '0')}:${i % 2 === 0 ? '00' : '30'}`,
      end: `0${7 + (i % 3)}:00`,
      channels: some(CHANNELS, 2),
      ...(i % 3 === 0 ? { topics: some(TOPICS, 2) } : {}),
    })),
    sendTime: { trait: 'best_hour', maxDelay: '24h' },
    rateLimits: Array.from({ length: 14 }, (_, i) => ({
      id: `rate-${i}`,
      provider: `provider-${i}`,
      channels: [CHANNELS[i % CHANNELS.length]!],
      rate: 50 + i * 10,
      per: '1s',
      burst: 100,
      ...(i % 2 === 0 ? { categories: ['promotional'] } : {}),
    })),
  };
}

interface World {
  readonly profiles: GuardrailFacts[];
  readonly messages: OutboundMessage[];
  readonly owner: number[];
}

function world(profiles: number, messages: number): World {
  const rnd = random(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const providers: Record<string, TokenBucket> = {};
  for (let i = 0; i < 14; i++) providers[`provider-${i}`] = { tokens: 1 + rnd() * 50, updatedAt: NOW - 100 };
  const facts: GuardrailFacts[] = [];
  for (let p = 0; p < profiles; p++) {
    const n = Math.floor(rnd() ** 2 * 200);
    const deliveries: DeliveryRecord[] = [];
    for (let i = 0; i < n; i++) {
      const category: MessageCategory = rnd() < 0.6 ? 'promotional' : 'transactional';
      deliveries.push({
        channel: pick(MESSAGE_CHANNELS),
        category,
        topic: rnd() < 0.7 ? pick(TOPICS) : null,
        template: pick(TEMPLATES),
        journey: rnd() < 0.8 ? pick(JOURNEYS) : null,
        contentHash: `h${Math.floor(rnd() * 1000)}`,
        messageId: `m-${p}-${i}`,
        at: NOW - Math.floor(rnd() * 30 * DAY),
      });
    }
    deliveries.sort((a, b) => a.at - b.at);
    const segments = Array.from({ length: 10 + Math.floor(rnd() * 20) }, () => pick(SEGMENTS));
    if (rnd() < 0.05) segments.push(pick(SUPPRESSING));
    facts.push({
      traits: {
        timezone: pick(ZONES),
        ...(rnd() < 0.5 ? { best_hour: Math.floor(rnd() * 24) } : {}),
        consent: {
          email: { promotional: rnd() < 0.95, topics: { newsletter: rnd() < 0.9, partner: rnd() < 0.3 } },
          sms: rnd() < 0.6 ? { promotional: true } : {},
          push: { promotional: rnd() < 0.9 },
          ...(rnd() < 0.02 ? { webpush: { suppressed: true, reason: 'complaint' } } : {}),
        },
      },
      segments,
      deliveries,
      contentHash: `h${Math.floor(rnd() * 1000)}`,
      providers,
    });
  }
  const out: OutboundMessage[] = [];
  const owner: number[] = [];
  for (let i = 0; i < messages; i++) {
    const p = Math.floor(rnd() * profiles);
    owner.push(p);
    const journey = rnd() < 0.9 ? pick(JOURNEYS) : null;
    out.push({
      id: `out-${i}`,
      workspaceId: 'default',
      profileId: `p${p}`,
      channel: pick(MESSAGE_CHANNELS),
      template: pick(TEMPLATES),
      category: rnd() < 0.75 ? 'promotional' : 'transactional',
      ...(rnd() < 0.7 ? { topic: pick(TOPICS) } : {}),
      journey: journey === null ? null : { key: journey, version: 1, runId: `r${i}`, node: 'send' },
      event: null,
      context: {},
      createdAt: NOW - Math.floor(rnd() * 3_600_000),
    });
  }
  return { profiles: facts, messages: out, owner };
}

/** Decides `decisions` messages one at a time, timing each; then the same set untimed for throughput. */
export async function runGuardrailBench(options: { decisions?: number } = {}): Promise<GuardrailBenchResult> {
  const decisions = options.decisions ?? 200_000;
  const raw = benchRules() as Record<string, unknown[] | unknown>;
  const rules = parseRules(raw);
  const count =
    rules.frequencyCaps.length +
    rules.suppression.length +
    rules.dedupe.length +
    rules.quietHours.length +
    rules.rateLimits.length +
    (rules.sendTime === null ? 0 : 1);
  const compiled = compileRules(rules);
  const w = world(10_000, 50_000);
  const n = w.messages.length;
  // Each decision a few minutes apart over a day, so quiet hours and best hours all come up.
  const at = (i: number) => NOW + (i % 288) * 300_000;

  const actions: Record<string, number> = {};
  for (let i = 0; i < 20_000; i++) decide(compiled, w.messages[i % n]!, w.profiles[w.owner[i % n]!]!, at(i));

  const samples = new Float64Array(decisions);
  for (let i = 0; i < decisions; i++) {
    const m = w.messages[i % n]!;
    const f = w.profiles[w.owner[i % n]!]!;
    const t0 = process.hrtime.bigint();
    const d = decide(compiled, m, f, at(i));
    samples[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    actions[d.reason] = (actions[d.reason] ?? 0) + 1;
  }
  samples.sort();
  const started = process.hrtime.bigint();
  for (let i = 0; i < decisions; i++)
    decide(compiled, w.messages[i % n]!, w.profiles[w.owner[i % n]!]!, at(i));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const q = (p: number) => samples[Math.min(decisions - 1, Math.floor(p * decisions))]!;
  return {
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    decisionsPerSec: decisions / seconds,
    rules: count,
    decisions,
    actions,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { decisions: { type: 'string' } } });
  const r = await runGuardrailBench(values.decisions ? { decisions: Number(values.decisions) } : {});
  console.log(`guardrail decisions with ${r.rules} rules, ${r.decisions} decisions`);
  console.log(
    `  p50 ${(r.p50Ms * 1000).toFixed(1)} µs   p99 ${(r.p99Ms * 1000).toFixed(1)} µs   ${Math.round(r.decisionsPerSec).toLocaleString('en-US')} decisions/s`,
  );
  const total = Object.values(r.actions).reduce((a, b) => a + b, 0);
  console.log(
    `  outcomes: ${Object.entries(r.actions)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${((100 * v) / total).toFixed(1)} %`)
      .join(', ')}`,
  );
}
