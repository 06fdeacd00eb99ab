import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import { hash53 } from '../core/hash53.ts';
import type { ProfileId } from '../core/ids.ts';
import { bodyOf } from '../ingest/normalize.ts';
import type { CommitChanges, ScannedEvent } from '../store/port.ts';
import { project, projectInto } from './evaluate.ts';
import { parseUuid, uuidText } from './id-table.ts';
import type { Projection, Registry } from './registry.ts';

/**
 * What the segment engine needs of a commit, and nothing more: each event's profile and identity,
 * and, for events whose name a definition reads, the projected property values. Small enough to
 * hand to another thread cheaply; made where the events already are. Numbers travel in typed
 * arrays, which cross to another thread as one copy of their bytes each, where as many array
 * elements are written and read one by one.
 */
export interface CompactCommit {
  /** Per input event (flattened): the profile it was stored under, none for a duplicate. */
  readonly profiles: ProfileColumn;
  /**
   * Per input event: the identity the engine keeps for its profile, a user id or, for an event
   * with none, an anonymous id (`anonymous[i]` is then 1). Null for an event with neither, or
   * without a profile.
   */
  readonly identities: readonly (string | null)[];
  readonly anonymous: Uint8Array;
  /**
   * Events a definition reads, in input order, as columns (`count` of each): `at` is the event's
   * index. Their projected values are one array too: each fact's `width` of them, in the facts'
   * order. A fact's name is the index of one of the commit's `names`, each sent once.
   */
  readonly facts: CompactFacts;
  readonly merges: CommitChanges['merges'];
  readonly traits: CommitChanges['traits'];
}

/**
 * Profiles, one per event. A UUID in canonical form (every id the store makes) is four 32-bit
 * words at `4 × i` in `words`, as the engine's id table keeps it (`kind` 0); an event without a
 * profile has `kind` 1; any other id, `kind` 2, is the next of `others`.
 */
export interface ProfileColumn {
  readonly kind: Uint8Array;
  readonly words: Int32Array;
  readonly others: readonly ProfileId[];
}

export const UUID = 0;
export const NO_PROFILE = 1;
export const OTHER_ID = 2;

export interface CompactFacts {
  readonly count: number;
  readonly at: Int32Array;
  readonly names: readonly string[];
  readonly name: Int32Array;
  readonly ts: Float64Array;
  readonly tie: Float64Array;
  readonly width: Int32Array;
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

/** Fills `column`'s place `i` with `id`; `others` collects the ids that are not UUIDs. */
function putProfile(
  kind: Uint8Array,
  words: Int32Array,
  others: ProfileId[],
  i: number,
  id: ProfileId | null,
) {
  if (id === null) kind[i] = NO_PROFILE;
  else if (!parseUuid(id, words, 4 * i)) {
    kind[i] = OTHER_ID;
    others.push(id);
  }
}

/** A column of these profiles (see `ProfileColumn`). */
export function profileColumn(profiles: readonly (ProfileId | null)[]): ProfileColumn {
  const n = profiles.length;
  const kind = new Uint8Array(n);
  const words = new Int32Array(4 * n);
  const others: ProfileId[] = [];
  for (let i = 0; i < n; i++) putProfile(kind, words, others, i, profiles[i]!);
  return { kind, words, others };
}

/** The profiles of a column as ids (for tests and reading; the engine reads the words). */
export function profilesOf(c: ProfileColumn): (ProfileId | null)[] {
  let k = 0;
  return Array.from(c.kind, (kind, i) =>
    kind === NO_PROFILE ? null : kind === OTHER_ID ? c.others[k++]! : (uuidText(c.words, 4 * i) as ProfileId),
  );
}

/**
 * A commit's numeric columns for `n` events, all views of one buffer: one allocation, where one
 * each cost about ten times as much, and one copy of its bytes to cross to another thread.
 */
function columns(n: number) {
  const buffer = new ArrayBuffer(48 * n);
  return {
    words: new Int32Array(buffer, 0, 4 * n),
    at: new Int32Array(buffer, 16 * n, n),
    name: new Int32Array(buffer, 20 * n, n),
    width: new Int32Array(buffer, 24 * n, n),
    kind: new Uint8Array(buffer, 28 * n, n),
    anonymous: new Uint8Array(buffer, 29 * n, n),
    ts: new Float64Array(buffer, 32 * n, n),
    tie: new Float64Array(buffer, 40 * n, n),
  };
}

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
  const n = events.length;
  // The facts' columns are sized for every event and use the first `count` places.
  const { words, at, name, width, kind, anonymous, ts, tie } = columns(n);
  const names: string[] = [];
  const values: unknown[] = [];
  let count = 0;
  const nameAt = new Map<Projection, number>();
  const others: ProfileId[] = [];
  const identities: (string | null)[] = new Array(n);
  const profiles = changes.profiles;
  for (let i = 0; i < n; i++) {
    const ev = events[i]!;
    // The name is looked up once: whether a definition reads it, and which values.
    const projection = ev.name === null ? undefined : reg.projections.get(ev.name);
    const profile = profiles[i] ?? null;
    if (profile === null || (projection === undefined && ev.sourceId === announcer)) {
      kind[i] = NO_PROFILE;
      identities[i] = null;
      continue;
    }
    putProfile(kind, words, others, i, profile);
    // The engine keeps an anonymous id only for a profile it knows no user id of.
    if (ev.userId !== null) identities[i] = ev.userId;
    else {
      identities[i] = ev.anonymousId;
      anonymous[i] = 1;
    }
    if (projection === undefined) continue;
    at[count] = i;
    let k = nameAt.get(projection);
    if (k === undefined) {
      k = names.length;
      nameAt.set(projection, k);
      names.push(projection.name);
    }
    name[count] = k;
    ts[count] = ev.timestamp;
    tie[count] = hash53(ev.messageId);
    width[count] = projection.paths.length === 0 ? 0 : projectInto(projection, bodyOf(ev), values);
    count++;
  }
  return {
    profiles: { kind, words, others },
    identities,
    anonymous,
    facts: { count, at, names, name, ts, tie, width, values },
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
