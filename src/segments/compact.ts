import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import { hash53 } from '../core/hash53.ts';
import type { ProfileId } from '../core/ids.ts';
import { bodyOf } from '../ingest/normalize.ts';
import type { CommitChanges, ScannedEvent } from '../store/port.ts';
import { project, projectInto } from './evaluate.ts';
import type { Projection, Registry } from './registry.ts';

/**
 * What the segment engine needs of a commit, and nothing more: each event's profile and identity,
 * and, for events whose name a definition reads, the projected property values. Small enough to
 * hand to another thread cheaply; made where the events already are.
 */
export interface CompactCommit {
  /** Per input event (flattened): the profile it was stored under, null for a duplicate. */
  readonly profiles: readonly (ProfileId | null)[];
  readonly userIds: readonly (string | null)[];
  /** Null where the event has a user id (the engine would not keep it). */
  readonly anonymousIds: readonly (string | null)[];
  /**
   * Events a definition reads, in input order, as columns (plain arrays cross to another thread
   * for about half what as many small objects cost, on both sides): `at` is the event's index.
   * Their projected values are one array too: each fact's `width` of them, in the facts' order.
   * A fact's name is the index of one of the commit's `names`, each sent once.
   */
  readonly facts: CompactFacts;
  readonly merges: CommitChanges['merges'];
  readonly traits: CommitChanges['traits'];
}

export interface CompactFacts {
  readonly at: readonly number[];
  readonly names: readonly string[];
  readonly name: readonly number[];
  readonly ts: readonly number[];
  readonly tie: readonly number[];
  readonly width: readonly number[];
  readonly values: readonly unknown[];
}

/** One scanned event a definition reads: profile, name, time, tie-breaker, values, identity. */
export type CompactFact = [
  profile: ProfileId,
  name: string,
  ts: number,
  tie: number,
  values: unknown[],
  userId: string | null,
  anonymousId: string | null,
];

const NO_VALUES: unknown[] = [];

/** The values the definitions read of an event, by its name's projection. */
const valuesOf = (projection: Projection, body: unknown): unknown[] =>
  projection.paths.length === 0 ? NO_VALUES : project(projection, body);

/**
 * `announcer` is the source of the engine's own `Segment Entered` / `Exited` events: those no
 * definition reads are left out (as duplicates are), since the engine made them from profiles it
 * holds, with the identity it holds; at full speed they are a third of what a commit carries.
 */
export function compactCommit(
  reg: Registry,
  events: readonly NormalizedEvent[],
  changes: CommitChanges,
  announcer: string | null = null,
): CompactCommit {
  const facts = {
    at: [] as number[],
    names: [] as string[],
    name: [] as number[],
    ts: [] as number[],
    tie: [] as number[],
    width: [] as number[],
    values: [] as unknown[],
  };
  const nameAt = new Map<Projection, number>();
  const userIds: (string | null)[] = new Array(events.length);
  const anonymousIds: (string | null)[] = new Array(events.length);
  let profiles = changes.profiles;
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]!;
    // The name is looked up once: whether a definition reads it, and which values.
    const projection = ev.name === null ? undefined : reg.projections.get(ev.name);
    if (projection === undefined && ev.sourceId === announcer && profiles[i] !== null) {
      if (profiles === changes.profiles) profiles = profiles.slice();
      profiles[i] = null;
      userIds[i] = null;
      anonymousIds[i] = null;
      continue;
    }
    userIds[i] = ev.userId;
    // The engine keeps an anonymous id only for a profile it knows no user id of.
    anonymousIds[i] = ev.userId === null ? ev.anonymousId : null;
    if (projection === undefined || ev.name === null || profiles[i] === null) continue;
    facts.at.push(i);
    let n = nameAt.get(projection);
    if (n === undefined) {
      n = facts.names.length;
      nameAt.set(projection, n);
      facts.names.push(projection.name);
    }
    facts.name.push(n);
    facts.ts.push(ev.timestamp);
    facts.tie.push(hash53(ev.messageId));
    facts.width.push(projection.paths.length === 0 ? 0 : projectInto(projection, bodyOf(ev), facts.values));
  }
  return {
    profiles,
    userIds,
    anonymousIds,
    facts,
    merges: changes.merges,
    traits: changes.traits,
  };
}

export function compactScanned(reg: Registry, e: ScannedEvent): CompactFact | null {
  if (e.name === null) return null;
  const projection = reg.projections.get(e.name);
  if (projection === undefined) return null;
  const values = valuesOf(projection, e.body);
  const body: JsonObject = e.body;
  const mid = typeof body.messageId === 'string' ? body.messageId : String(e.seq);
  return [
    e.profileId,
    e.name,
    e.timestamp,
    hash53(mid),
    values,
    typeof body.userId === 'string' ? body.userId : null,
    typeof body.anonymousId === 'string' ? body.anonymousId : null,
  ];
}
