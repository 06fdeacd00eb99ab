/**
 * The journey store port: definitions and their versions, runs (each with its durable timer),
 * entry records (re-entry, control group), counters, and the outbox. Batch-shaped like the main
 * store: one `commit` writes a whole step batch — runs, entries, outbox rows, counters and the
 * position in the event log — in one transaction, so a crash leaves either all of it or none.
 */
import type { JsonObject } from '../../core/event.ts';
import type { RunState } from '../step.ts';

export type JourneyStatus = 'draft' | 'active' | 'paused' | 'stopped';

export interface JourneyRecord {
  readonly key: string;
  readonly status: JourneyStatus;
  /** The version new entries start on (null before the first publish). */
  readonly publishedVersion: number | null;
  readonly latestVersion: number;
  readonly updatedAt: number;
}

export interface VersionRecord {
  readonly key: string;
  readonly version: number;
  readonly definition: JsonObject;
  readonly createdAt: number;
}

/** Per (journey, profile): how often and when the profile entered, and its experiment group. */
export interface EntryRecord {
  readonly journey: string;
  readonly profileId: string;
  readonly group: 'treatment' | 'control';
  readonly entries: number;
  readonly firstAt: number;
  readonly lastAt: number;
}

export type OutboxKind = 'send' | 'update';
export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'skipped' | 'failed' | 'cancelled';

export interface OutboxRow {
  readonly id: string;
  readonly runId: string | null;
  readonly journey: string | null;
  readonly profileId: string;
  readonly kind: OutboxKind;
  readonly payload: JsonObject;
  readonly status: OutboxStatus;
  /** When it may be attempted (a deferral moves it later). */
  readonly dueAt: number;
  readonly attempts: number;
  readonly detail: string | null;
  readonly createdAt: number;
}

export interface StatRow {
  readonly node: string | null;
  readonly metric: string;
  readonly n: number;
}

/** Everything one batch of steps changed. */
export interface JourneyBatch {
  readonly runs: readonly RunState[];
  readonly entries: readonly EntryRecord[];
  readonly outbox: readonly OutboxRow[];
  /** Runs whose unsent outbox rows are cancelled. */
  readonly cancelRuns: readonly string[];
  readonly stats: readonly { journey: string; node: string | null; metric: string; n: number }[];
  /** The last event sequence number this batch accounts for (omitted: unchanged). */
  readonly cursor?: number;
}

export interface OutboxResult {
  readonly id: string;
  readonly status: 'pending' | 'sent' | 'skipped' | 'failed';
  readonly detail: string | null;
  /** For `pending`: when to try again. */
  readonly dueAt?: number;
  /** The event recording the outcome on the profile's timeline, kept until it is stored there. */
  readonly record?: OutcomeRecord | null;
}

export interface OutcomeRecord {
  readonly event: string;
  readonly properties: JsonObject;
}

/** A settled outbox row whose outcome event is not yet in the log. */
export interface UnrecordedRow {
  readonly id: string;
  readonly profileId: string;
  readonly record: OutcomeRecord;
  readonly settledAt: number;
}

export interface JourneyStore {
  migrate(): Promise<void>;
  close(): Promise<void>;

  listJourneys(ws: string): Promise<JourneyRecord[]>;
  getJourney(ws: string, key: string): Promise<JourneyRecord | null>;
  /** Adds a version (the next number) and returns it. */
  addVersion(ws: string, key: string, definition: JsonObject, now: number): Promise<number>;
  getVersion(ws: string, key: string, version: number): Promise<VersionRecord | null>;
  listVersions(ws: string, key: string): Promise<VersionRecord[]>;
  setStatus(
    ws: string,
    key: string,
    status: JourneyStatus,
    publishedVersion: number | null,
    now: number,
  ): Promise<void>;

  /** The last event sequence number the journeys accounted for (0 at first). */
  cursor(ws: string): Promise<number>;
  /** Runs of these profiles that are active or scheduled. */
  liveRuns(ws: string, profileIds: readonly string[]): Promise<RunState[]>;
  /** Live runs of one journey, in id order after `afterId`. */
  journeyRuns(ws: string, key: string, afterId: string, limit: number): Promise<RunState[]>;
  /** Every run of one journey (any status), in id order after `afterId`. */
  allRuns(ws: string, key: string, afterId: string, limit: number): Promise<RunState[]>;
  getRun(ws: string, id: string): Promise<RunState | null>;
  /** Runs of a profile, newest first. */
  profileRuns(ws: string, profileId: string, limit: number): Promise<RunState[]>;
  /** Live runs whose timer is due at `upTo`, earliest first, skipping the given journeys. */
  dueRuns(ws: string, upTo: number, limit: number, skip: readonly string[]): Promise<RunState[]>;
  /** The earliest timer, skipping the given journeys. */
  nextWake(ws: string, skip: readonly string[]): Promise<number | null>;
  entries(
    ws: string,
    pairs: readonly (readonly [journey: string, profileId: string])[],
  ): Promise<EntryRecord[]>;
  /** Entry records of one journey (the experiment `journey:{key}`), after `afterProfile`. */
  journeyEntries(ws: string, key: string, afterProfile: string, limit: number): Promise<EntryRecord[]>;
  commit(ws: string, batch: JourneyBatch): Promise<void>;
  stats(ws: string, key: string): Promise<StatRow[]>;
  /** Moves a merged profile's runs and entries to the profile it merged into. */
  reassign(ws: string, from: string, into: string): Promise<void>;
  /** Removes everything held on a profile (erasure). */
  eraseProfile(ws: string, profileId: string): Promise<number>;

  /**
   * Pending outbox rows due at `now`, marked `sending` (attempts + 1), oldest first; with
   * `updatesOnly`, only trait updates (while nothing can deliver messages, they wait untouched).
   */
  claimOutbox(ws: string, now: number, limit: number, updatesOnly?: boolean): Promise<OutboxRow[]>;
  /** Records outcomes, and the journey counters they add to, in one transaction. */
  settleOutbox(
    ws: string,
    results: readonly OutboxResult[],
    now: number,
    stats?: JourneyBatch['stats'],
  ): Promise<void>;
  /** Settled rows whose outcome event is still to be stored, oldest first. */
  unrecorded(ws: string, limit: number): Promise<UnrecordedRow[]>;
  markRecorded(ws: string, ids: readonly string[]): Promise<void>;
  /** Sent rows whose detail is `from` get `to` (messages a crash left in doubt); how many. */
  markInDoubt(ws: string, from: string, to: string): Promise<number>;
  /** Rows left `sending` by a process that died: back to pending. */
  recoverOutbox(ws: string): Promise<number>;
  /** When the next pending row (or with `updatesOnly`, the next trait update) falls due. */
  nextOutboxDue(ws: string, updatesOnly?: boolean): Promise<number | null>;
  outboxOfRun(ws: string, runId: string): Promise<OutboxRow[]>;
  outboxOfProfile(ws: string, profileId: string, limit: number): Promise<OutboxRow[]>;
  /** Counts of runs by status, for /api/status. */
  counts(ws: string): Promise<{ live: number; outboxPending: number }>;
}
