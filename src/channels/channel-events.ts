import { randomUUID } from 'node:crypto';
import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import type { SourceId, WorkspaceId } from '../core/ids.ts';
import { normalizeMessage } from '../ingest/normalize.ts';

/** Names of the events channels feed back into the log. */
export const CHANNEL_EVENTS = {
  emailOpened: 'Email Opened',
  emailLinkClicked: 'Email Link Clicked',
  emailBounced: 'Email Bounced',
  emailComplained: 'Email Marked as Spam',
  unsubscribed: 'Unsubscribed',
  smsReceived: 'SMS Received',
  messageDelivered: 'Message Delivered',
  messageFailed: 'Message Failed',
  inAppDelivered: 'In-App Message Delivered',
  inAppRead: 'In-App Message Read',
} as const;

/** Who an event is about: the ids the log resolves to a profile. */
export interface EventIdentity {
  readonly userId: string | null;
  readonly anonymousId: string | null;
}

/**
 * Builds an event of the built-in channels source, normalised as the tracking API would, so it
 * takes the one ingest path (identity, traits, segments, journeys) like any other event.
 */
export function channelEvent(
  ctx: { workspaceId: WorkspaceId; sourceId: SourceId; now: number },
  who: EventIdentity,
  message:
    | { type: 'track'; event: string; properties: JsonObject; messageId?: string }
    | { type: 'identify'; traits: JsonObject; messageId?: string },
): NormalizedEvent {
  const body: JsonObject = {
    type: message.type,
    timestamp: new Date(ctx.now).toISOString(),
    context: { library: { name: 'concierge-channels' } },
    ...(message.messageId !== undefined ? { messageId: message.messageId } : {}),
    ...(message.type === 'track'
      ? { event: message.event, properties: message.properties }
      : { traits: message.traits }),
  };
  if (who.userId !== null) body.userId = who.userId;
  if (who.anonymousId !== null) body.anonymousId = who.anonymousId;
  return normalizeMessage(body, message.type, {
    workspaceId: ctx.workspaceId,
    sourceId: ctx.sourceId,
    receivedAt: ctx.now,
    newMessageId: randomUUID,
  });
}
