import type { JsonObject, NormalizedEvent, StoredEvent } from '../core/event.ts';
import type { IdentityRules } from '../core/identity.ts';
import type { ProfileId, SourceId, WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';

/** How a workspace resolves identities. */
export interface IdentityConfig extends IdentityRules {
  /** Traits that identify a person (e.g. `email`); profiles sharing one merge. */
  readonly identifierTraits: readonly string[];
}

export const DEFAULT_IDENTITY: IdentityConfig = { identifierTraits: ['email'], maxUserIdsPerProfile: 1 };

export interface SourceRecord {
  readonly id: SourceId;
  readonly workspaceId: WorkspaceId;
  readonly name: string;
  readonly createdAt: string;
}

/** What happened to one request's events inside a group commit. */
export interface AppendOutcome {
  readonly stored: number;
  readonly duplicates: number;
}

export interface EventPage {
  readonly events: StoredEvent[];
  /** Pass as `before` to read the next (older) page; null at the end. */
  readonly cursor: string | null;
}

/**
 * What one commit changed, for the parts of the engine that react to events (segments, journeys):
 * they follow the log through these instead of reading it back.
 */
export interface CommitChanges {
  /** For each input event in order (groups flattened): the profile it was stored under, or null for a duplicate. */
  readonly profiles: (ProfileId | null)[];
  /** Profiles merged into others, in order; `at` is the index of the event that merged them. */
  readonly merges: { readonly from: ProfileId; readonly into: ProfileId; readonly at: number }[];
  /** The traits, as committed, of each surviving profile whose traits this commit changed. */
  readonly traits: [ProfileId, JsonObject][];
}

export interface AppendResult {
  readonly outcomes: AppendOutcome[];
  readonly changes: CommitChanges;
}

/** An event read back for a scan of the log: the profile is the one it belongs to now. */
export interface ScannedEvent {
  readonly seq: number;
  readonly profileId: ProfileId;
  readonly sourceId: SourceId;
  readonly type: string;
  readonly name: string | null;
  readonly timestamp: number;
  readonly body: JsonObject;
}

/** Everything held on one person. */
export interface ProfileExport {
  readonly profile: Profile;
  readonly mergedProfileIds: ProfileId[];
  readonly events: StoredEvent[];
  readonly groups: { groupId: string; traits: JsonObject }[];
}

export interface ErasureReport {
  readonly profileId: ProfileId;
  readonly events: number;
  readonly identifiers: number;
}

/** The position in the event timeline to read before: an event time, or a cursor from a page. */
export type TimelineCursor = { readonly ts: number; readonly seq: number };

/**
 * The store port: everything the engine persists. Batch-shaped and async, so that one adapter can
 * be an embedded SQLite file and another a Postgres server. Every adapter passes the same
 * contract test suite (`test/store/contract.test.ts`).
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Applies pending schema migrations. Safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  ensureWorkspace(id: WorkspaceId, name: string): Promise<void>;
  getSetting(ws: WorkspaceId, key: string): Promise<string | null>;
  setSetting(ws: WorkspaceId, key: string, value: string): Promise<void>;

  createSource(ws: WorkspaceId, name: string, writeKeyHash: string): Promise<SourceRecord>;
  findSourceByWriteKeyHash(hash: string): Promise<SourceRecord | null>;
  listSources(ws: WorkspaceId): Promise<SourceRecord[]>;

  /**
   * Appends the events of several requests in one transaction (a group commit), resolving
   * identities and merging traits as it goes; resolves once that transaction is durable. Events
   * whose (source, messageId) is already stored are counted as duplicates and not stored again.
   */
  appendEvents(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
  ): Promise<AppendOutcome[]>;

  /** `appendEvents`, also reporting what the commit changed. */
  appendWithChanges(
    groups: readonly (readonly NormalizedEvent[])[],
    identity: (ws: WorkspaceId) => IdentityConfig,
  ): Promise<AppendResult>;

  /** The highest event sequence number stored in the workspace (0 when none). */
  maxSeq(ws: WorkspaceId): Promise<number>;
  /**
   * Events with `afterSeq < seq <= upToSeq` in sequence order, at most `limit`, each under the
   * profile it belongs to now (after merges). `names`, when given, keeps only events with one of
   * those names.
   */
  scanEvents(
    ws: WorkspaceId,
    range: { afterSeq: number; upToSeq: number; limit: number; names?: readonly string[] },
  ): Promise<ScannedEvent[]>;
  /** Profiles with id greater than `afterId` in id order, at most `limit`, with their traits. */
  scanProfiles(
    ws: WorkspaceId,
    afterId: string,
    limit: number,
  ): Promise<{ id: ProfileId; traits: JsonObject }[]>;

  /** The profile owning an identifier (`user_id`, `anonymous_id` or an identifier trait). */
  findProfile(ws: WorkspaceId, kind: string, value: string): Promise<Profile | null>;
  /** A profile by id; ids of profiles merged into another resolve to the survivor. */
  getProfile(ws: WorkspaceId, id: ProfileId): Promise<Profile | null>;
  /** Newest first. */
  listEvents(
    ws: WorkspaceId,
    id: ProfileId,
    limit: number,
    before: TimelineCursor | null,
  ): Promise<EventPage>;
  exportProfile(ws: WorkspaceId, id: ProfileId): Promise<ProfileExport | null>;
  /** Removes the person's events, traits and identifiers. Null when there is no such profile. */
  eraseProfile(ws: WorkspaceId, id: ProfileId): Promise<ErasureReport | null>;
  counts(ws: WorkspaceId): Promise<{ events: number; profiles: number }>;
}
