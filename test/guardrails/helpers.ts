/** Builders shared by the guardrail tests: messages, deliveries, facts and compiled rules. */
import assert from 'node:assert/strict';
import type { Channel, MessageCategory, OutboundMessage } from '../../src/channels/outbound.ts';
import { type CompiledGuardrails, compileRules } from '../../src/guardrails/compile-rules.ts';
import { decide } from '../../src/guardrails/decide.ts';
import type { DeliveryHistory } from '../../src/guardrails/delivery-history.ts';
import type { DeliveryRecord, GuardrailFacts } from '../../src/guardrails/facts.ts';
import { checkRules } from '../../src/guardrails/parse-rules.ts';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const at = (iso: string): number => {
  const t = Date.parse(iso);
  assert.ok(Number.isFinite(t), iso);
  return t;
};
export const iso = (t: number): string => new Date(t).toISOString();

/** Compiles rules written as a user would, failing the test when they do not validate. */
export function rules(input: unknown = {}): CompiledGuardrails {
  const c = checkRules(input);
  assert.ok(c.ok, JSON.stringify(c));
  return compileRules(c.rules);
}

let seq = 0;
export function message(
  over: Partial<Omit<OutboundMessage, 'journey'>> & { journey?: string | null } = {},
): OutboundMessage {
  const { journey, ...rest } = over;
  seq++;
  return {
    id: `msg-${seq}`,
    workspaceId: 'default',
    profileId: 'p1',
    channel: 'email',
    template: 'ev-offer',
    category: 'promotional',
    journey:
      journey === null
        ? null
        : { key: journey ?? 'ev-launch', version: 1, runId: `run-${seq}`, node: 'send' },
    event: null,
    context: {},
    createdAt: 0,
    ...rest,
  };
}

export function delivery(
  channel: Channel,
  category: MessageCategory,
  at: number,
  over: Partial<DeliveryRecord> = {},
): DeliveryRecord {
  return {
    channel,
    category,
    topic: null,
    template: `t-${channel}-${at}`,
    journey: 'ev-launch',
    contentHash: null,
    messageId: null,
    at,
    ...over,
  };
}

/** Facts for a profile that granted every promotional consent, in Berlin unless told otherwise. */
export function facts(over: Partial<GuardrailFacts> = {}): GuardrailFacts {
  return {
    traits: {
      timezone: 'Europe/Berlin',
      consent: {
        email: { promotional: true },
        sms: { promotional: true },
        push: { promotional: true },
      },
    },
    segments: [],
    deliveries: [],
    ...over,
  };
}

/** What happened to one message in a simulated dispatch. */
export interface Outcome {
  readonly message: OutboundMessage;
  readonly action: 'send' | 'skip';
  readonly at: number;
  readonly reason: string;
  readonly text: string;
  /** The defer decisions it went through first. */
  readonly deferred: readonly { reason: string; until: number }[];
}

/**
 * A dispatcher in miniature, as the real one is meant to use the guardrails: messages become due
 * at `createdAt`, each due message is decided at its due time, deferred ones come back at `until`,
 * and every sent one is recorded in the delivery history (so later decisions see it).
 */
export function dispatch(
  g: CompiledGuardrails,
  messages: readonly OutboundMessage[],
  profile: Omit<GuardrailFacts, 'deliveries'>,
  history: DeliveryHistory,
): Outcome[] {
  const queue = messages.map((m, i) => ({
    m,
    due: m.createdAt,
    order: i,
    deferred: [] as Outcome['deferred'][number][],
  }));
  const out: Outcome[] = [];
  let guard = 0;
  while (queue.length > 0) {
    assert.ok(guard++ < 100_000, 'dispatch did not settle');
    queue.sort((a, b) => a.due - b.due || a.order - b.order);
    const next = queue.shift()!;
    const now = next.due;
    const d = decide(g, next.m, { ...profile, deliveries: history.of(next.m.profileId, now) }, now);
    if (d.action === 'defer') {
      assert.ok(d.until > now, `defer must move time forward: ${d.message}`);
      next.deferred.push({ reason: d.reason, until: d.until });
      queue.push({ ...next, due: d.until });
      continue;
    }
    if (d.action === 'send') {
      history.record(
        next.m.profileId,
        {
          channel: next.m.channel,
          category: next.m.category,
          topic: next.m.topic ?? null,
          template: next.m.template,
          journey: next.m.journey?.key ?? null,
          contentHash: null,
          messageId: next.m.id,
          at: now,
        },
        now,
      );
    }
    out.push({
      message: next.m,
      action: d.action,
      at: now,
      reason: d.reason,
      text: d.message,
      deferred: next.deferred,
    });
  }
  return out;
}
