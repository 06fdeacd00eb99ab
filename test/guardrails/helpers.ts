/** Builders shared by the guardrail tests: messages, deliveries, facts and compiled rules. */
import assert from 'node:assert/strict';
import type { Channel, MessageCategory, OutboundMessage } from '../../src/channels/outbound.ts';
import { type CompiledGuardrails, compileRules } from '../../src/guardrails/compile-rules.ts';
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
