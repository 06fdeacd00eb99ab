import type { Channel, OutboundMessage } from '../channels/outbound.ts';
import { inDailyWindow, isTimeZone, localTime, nextOutsideWindow, nextWallTime } from '../core/wall-clock.ts';
import { type CompiledCap, type CompiledGuardrails, inScope, type RuleSet } from './compile-rules.ts';
import { checkConsent } from './consent.ts';
import { type Decision, defer, isoTime, SEND, skip } from './decision.ts';
import type { DeliveryRecord, GuardrailFacts } from './facts.ts';
import { nextTokenAt } from './token-bucket.ts';

/**
 * The guardrail decision for one message: a pure function of the compiled rules, the message, the
 * facts about its profile and the current time. It reads no clock and does no I/O.
 *
 * Rules are applied in this order, and the first that objects decides:
 * 1. consent — nothing goes out without the consent its category needs (skip);
 * 2. suppression segments (skip);
 * 3. de-duplication — the same message id already sent, or the same template / content within a
 *    window (skip);
 * 4. frequency caps (skip, or defer when the rule says so);
 * 5. quiet hours, then send-time optimisation (defer, never drop);
 * 6. provider rate limits (defer until a token is there).
 * Skips come before defers: a message that would be skipped anyway is not deferred first, and the
 * reason recorded is the lasting one. Rate limits come last because they describe the provider's
 * capacity at the instant of sending, which only matters for a message about to go.
 */
export function decide(
  compiled: CompiledGuardrails,
  message: OutboundMessage,
  facts: GuardrailFacts,
  now: number,
): Decision {
  const rules = compiled.ruleSet(message.channel, message.category);

  const consent = checkConsent(compiled.consent, message, facts.traits[compiled.consent.trait]);
  if (consent !== null) return consent;

  const journey = message.journey?.key ?? null;
  if (rules.suppression.length > 0) {
    const hit = suppressingSegments(rules, facts.segments);
    if (hit !== null) {
      for (const r of rules.suppression) {
        if (!inScope(r, message.topic, journey)) continue;
        const segment = r.segments.find((s) => hit.has(s));
        if (segment === undefined) continue;
        const where = r.journeys === null ? 'every journey' : `journey '${journey}'`;
        return skip(
          'suppressed',
          r.id,
          `the profile is in segment '${segment}', suppressed from ${message.category} messages of ${where}`,
        );
      }
    }
  }

  const duplicate = checkDuplicates(rules, message, facts, journey, now);
  if (duplicate !== null) return duplicate;

  let start = now;
  let capRule: CompiledCap | null = null;
  let capText = '';
  for (const cap of rules.caps) {
    if (!inScope(cap, message.topic, journey)) continue;
    if (countCapped(cap, facts.deliveries, message.channel, journey, now) < cap.max) continue;
    const counted = cappedBy(cap, facts.deliveries, message.channel, journey, now);
    const text = `${describeCap(cap, message, journey)} already sent at ${listTimes(counted)}`;
    if (cap.onExceed === 'skip') return skip('frequency_cap', cap.id, text);
    counted.sort((a, b) => a.at - b.at);
    const room = counted[counted.length - cap.max]!.at + cap.windowMs;
    if (room > start) {
      start = room;
      capRule = cap;
      capText = text;
    }
  }

  const zone = timeZoneOf(compiled, facts);
  let at = start;
  let quietRule = null;
  if (rules.quietHours.length > 0) {
    for (let round = 0; round < 16; round++) {
      let moved = false;
      for (const q of rules.quietHours) {
        if (!inScope(q, message.topic, journey)) continue;
        const next = nextOutsideWindow(zone, at, q.start, q.end);
        if (next > at) {
          at = next;
          moved = true;
          quietRule = q;
        }
      }
      if (!moved) break;
    }
  }

  const sto = rules.sendTime;
  let bestAt: number | null = null;
  if (sto !== null && inScope(sto, message.topic, journey)) {
    const best = bestMinute(facts, sto.trait);
    if (best !== null && !inDailyWindow(localTime(zone, at).minuteOfDay, best, (best + 60) % 1440)) {
      const candidate = nextWallTime(zone, at, best);
      const quietThen = rules.quietHours.some(
        (q) =>
          inScope(q, message.topic, journey) &&
          nextOutsideWindow(zone, candidate, q.start, q.end) > candidate,
      );
      if (candidate - message.createdAt <= sto.maxDelayMs && !quietThen) {
        at = candidate;
        bestAt = candidate;
      }
    }
  }

  if (capRule !== null) {
    const after = at > start ? `, then outside quiet hours at ${isoTime(at)}` : '';
    return defer(at, 'frequency_cap', capRule.id, `${capText}; deferred until the window has room${after}`);
  }
  if (bestAt !== null && sto !== null) {
    const wall = localTime(zone, bestAt);
    return defer(
      bestAt,
      'send_time',
      sto.id,
      `deferred to the profile's best hour (${pad(wall.hour)}:${pad(wall.minute)} in ${zone}) at ${isoTime(bestAt)}`,
    );
  }
  if (quietRule !== null) {
    return defer(
      at,
      'quiet_hours',
      quietRule.id,
      `${message.category} ${message.channel} is not sent between ${quietRule.startText} and ${quietRule.endText} in ${zone}; deferred to ${isoTime(at)}`,
    );
  }

  let wait = now;
  let limiter = null;
  for (const r of rules.rateLimits) {
    if (!inScope(r, message.topic, journey)) continue;
    const next = nextTokenAt(facts.providers?.[r.provider], r, now);
    if (next > wait) {
      wait = next;
      limiter = r;
    }
  }
  if (limiter !== null) {
    return defer(
      wait,
      'rate_limit',
      limiter.id,
      `provider '${limiter.provider}' allows ${limiter.rate} messages per ${limiter.per} (burst ${limiter.burst}); next token at ${isoTime(wait)}`,
    );
  }
  return SEND;
}

function checkDuplicates(
  rules: RuleSet,
  message: OutboundMessage,
  facts: GuardrailFacts,
  journey: string | null,
  now: number,
): Decision | null {
  let sameTemplate: DeliveryRecord[] | null = null;
  for (const d of facts.deliveries) {
    if (d.messageId === message.id) {
      return skip('already_sent', 'dedupe', `message ${message.id} was already sent at ${isoTime(d.at)}`);
    }
    if (d.template === message.template) {
      sameTemplate ??= [];
      sameTemplate.push(d);
    }
  }
  if (sameTemplate === null) return null;
  const hash = facts.contentHash ?? null;
  for (const r of rules.dedupe) {
    if (!inScope(r, message.topic, journey)) continue;
    if (r.match === 'content' && hash === null) continue;
    const since = now - r.windowMs;
    for (const d of sameTemplate) {
      if (d.at <= since) continue;
      if (r.match === 'content' && d.contentHash !== hash) continue;
      if (r.channels !== null && !r.channels.has(d.channel)) continue;
      const what =
        r.match === 'content'
          ? `the same content of template '${message.template}'`
          : `template '${message.template}'`;
      return skip(
        'duplicate',
        r.id,
        `${what} was already sent to the profile at ${isoTime(d.at)} (${d.channel}), within ${r.window}`,
      );
    }
  }
  return null;
}

function counts(cap: CompiledCap, d: DeliveryRecord, channel: Channel, journey: string | null): boolean {
  if (!cap.categories.has(d.category)) return false;
  if (cap.perChannel ? d.channel !== channel : cap.channels !== null && !cap.channels.has(d.channel))
    return false;
  if (
    cap.perJourney
      ? d.journey !== journey
      : cap.journeys !== null && (d.journey === null || !cap.journeys.has(d.journey))
  )
    return false;
  return cap.topics === null || (d.topic !== null && cap.topics.has(d.topic));
}

/** How many deliveries count toward the cap now (stops early once the cap is reached). */
function countCapped(
  cap: CompiledCap,
  deliveries: readonly DeliveryRecord[],
  channel: Channel,
  journey: string | null,
  now: number,
): number {
  const since = now - cap.windowMs;
  let n = 0;
  for (const d of deliveries) {
    if (d.at > since && counts(cap, d, channel, journey) && ++n >= cap.max) return n;
  }
  return n;
}

function cappedBy(
  cap: CompiledCap,
  deliveries: readonly DeliveryRecord[],
  channel: Channel,
  journey: string | null,
  now: number,
): DeliveryRecord[] {
  const since = now - cap.windowMs;
  return deliveries.filter((d) => d.at > since && counts(cap, d, channel, journey));
}

function describeCap(cap: CompiledCap, message: OutboundMessage, journey: string | null): string {
  const categories = [...cap.categories].join(' or ');
  const plural = cap.max === 1 ? 'message' : 'messages';
  const where = cap.perChannel
    ? `on ${message.channel}`
    : cap.channels === null
      ? 'across all channels'
      : `across ${[...cap.channels].join(', ')}`;
  const topics = cap.topics === null ? '' : ` on topic ${[...cap.topics].join(' or ')}`;
  const journeys = cap.perJourney
    ? ` in journey '${journey ?? '(none)'}'`
    : cap.journeys === null
      ? ''
      : ` in journeys ${[...cap.journeys].join(', ')}`;
  return `${cap.max} ${categories} ${plural} per ${cap.window} ${where}${topics}${journeys}`;
}

function listTimes(deliveries: readonly DeliveryRecord[]): string {
  const sorted = [...deliveries].sort((a, b) => b.at - a.at);
  const shown = sorted.slice(0, 3).map((d) => `${isoTime(d.at)} (${d.channel})`);
  return sorted.length > 3 ? `${shown.join(', ')} and ${sorted.length - 3} more` : shown.join(', ');
}

/** The profile's segments that some suppression rule of the set names, or null when none. */
function suppressingSegments(
  rules: RuleSet,
  segments: readonly string[] | ReadonlySet<string>,
): Set<string> | null {
  let hit: Set<string> | null = null;
  for (const s of segments) {
    if (!rules.suppressionSegments.has(s)) continue;
    hit ??= new Set();
    hit.add(s);
  }
  return hit;
}

const trait = (facts: GuardrailFacts, name: string): unknown => facts.traits[name] ?? facts.computed?.[name];

function timeZoneOf(compiled: CompiledGuardrails, facts: GuardrailFacts): string {
  const zone = trait(facts, compiled.timeZone.trait);
  return typeof zone === 'string' && isTimeZone(zone) ? zone : compiled.timeZone.default;
}

/** The best send minute of the day from an hour trait (`19`, `"19"`, `18.5`), or null. */
function bestMinute(facts: GuardrailFacts, name: string): number | null {
  const v = trait(facts, name);
  const hour = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  if (!Number.isFinite(hour) || hour < 0 || hour >= 24) return null;
  return Math.floor(hour * 60);
}

const pad = (n: number) => String(n).padStart(2, '0');
