import type { ProfileId, SourceId, WorkspaceId } from './ids.ts';

/** The Segment message types the tracking API accepts. */
export const EVENT_TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type JsonObject = { [key: string]: unknown };

/**
 * An event after validation and normalisation, ready to be appended to the log.
 * `bodyJson` is the Segment-shaped message as it will be stored and returned (with `timestamp`
 * corrected for clock skew and `originalTimestamp`, `receivedAt`, `sentAt` kept beside it).
 */
export interface NormalizedEvent {
  readonly workspaceId: WorkspaceId;
  readonly sourceId: SourceId;
  readonly messageId: string;
  readonly type: EventType;
  /** `event` for track, `name` for page and screen, null otherwise. */
  readonly name: string | null;
  readonly userId: string | null;
  readonly anonymousId: string | null;
  /** alias only: the identity being merged into `userId`. */
  readonly previousId: string | null;
  /** group only. */
  readonly groupId: string | null;
  /** identify and group traits (empty object otherwise). */
  readonly traits: JsonObject;
  /** Event time in ms since the epoch, corrected for the sender's clock skew. */
  readonly timestamp: number;
  readonly receivedAt: number;
  /** The stored message, serialised once at the edge. */
  readonly bodyJson: string;
  /** Consent preferences carried in `context.consent.categoryPreferences`, if any. */
  readonly consent: JsonObject | null;
}

/** An event as read back from the log. */
export interface StoredEvent {
  readonly seq: number;
  readonly profileId: ProfileId;
  readonly sourceId: SourceId;
  readonly messageId: string;
  readonly type: EventType;
  readonly name: string | null;
  readonly timestamp: number;
  readonly receivedAt: number;
  readonly body: JsonObject;
}
