import type { EventType, JsonObject, NormalizedEvent } from '../core/event.ts';
import type { SourceId, WorkspaceId } from '../core/ids.ts';
import { parseTimestamp } from './validate.ts';

/** Everything about the request that shapes how its messages are normalised. */
export interface NormalizeContext {
  readonly workspaceId: WorkspaceId;
  readonly sourceId: SourceId;
  /** When the request arrived, ms since the epoch. */
  readonly receivedAt: number;
  readonly batchContext?: JsonObject | undefined;
  readonly batchIntegrations?: JsonObject | undefined;
  readonly batchSentAt?: string | undefined;
  /** Makes a message id for messages that came without one. */
  readonly newMessageId: () => string;
}

const asId = (v: unknown): string | null =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Turns one validated Segment message into the event the log stores. The event time is corrected
 * for clock skew as Segment does: `timestamp + (receivedAt − sentAt)`; without `sentAt` the
 * timestamp is kept, and without a timestamp the receive time is used.
 */
export function normalizeMessage(m: JsonObject, type: EventType, ctx: NormalizeContext): NormalizedEvent {
  const sentAtRaw = typeof m.sentAt === 'string' ? m.sentAt : ctx.batchSentAt;
  const sentAt = sentAtRaw === undefined ? null : parseTimestamp(sentAtRaw);
  const original = typeof m.timestamp === 'string' ? parseTimestamp(m.timestamp) : null;
  let timestamp = original ?? ctx.receivedAt;
  if (original !== null && sentAt !== null) timestamp = original + (ctx.receivedAt - sentAt);

  const context = ctx.batchContext
    ? { ...ctx.batchContext, ...(isObject(m.context) ? m.context : {}) }
    : isObject(m.context)
      ? m.context
      : {};
  const integrations = ctx.batchIntegrations
    ? { ...ctx.batchIntegrations, ...(isObject(m.integrations) ? m.integrations : {}) }
    : m.integrations;

  const messageId = typeof m.messageId === 'string' ? m.messageId : ctx.newMessageId();
  const userId = asId(m.userId);
  const anonymousId = asId(m.anonymousId);
  const { writeKey: _dropped, ...rest } = m;
  const body: JsonObject = {
    ...rest,
    type,
    messageId,
    userId,
    anonymousId,
    context,
    timestamp: new Date(timestamp).toISOString(),
    receivedAt: new Date(ctx.receivedAt).toISOString(),
  };
  if (integrations !== undefined) body.integrations = integrations;
  if (typeof m.timestamp === 'string') body.originalTimestamp = m.timestamp;
  if (sentAtRaw !== undefined) body.sentAt = sentAtRaw;
  if (type === 'group' || type === 'alias') {
    if (type === 'group') body.groupId = asId(m.groupId);
    else body.previousId = asId(m.previousId);
  }

  const consentPrefs = isObject(context.consent) ? context.consent.categoryPreferences : undefined;
  return {
    workspaceId: ctx.workspaceId,
    sourceId: ctx.sourceId,
    messageId,
    type,
    name: type === 'track' ? (m.event as string) : type === 'page' || type === 'screen' ? asName(m.name) : null,
    userId,
    anonymousId,
    previousId: type === 'alias' ? asId(m.previousId) : null,
    groupId: type === 'group' ? asId(m.groupId) : null,
    traits: (type === 'identify' || type === 'group') && isObject(m.traits) ? m.traits : {},
    timestamp,
    receivedAt: ctx.receivedAt,
    body,
    bodyJson: JSON.stringify(body),
    consent: isObject(consentPrefs) ? consentPrefs : null,
  };
}

const asName = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
