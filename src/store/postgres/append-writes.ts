import type { NormalizedEvent } from '../../core/event.ts';
import type { ProfileId, WorkspaceId } from '../../core/ids.ts';
import type { Identifier } from '../../core/profile.ts';
import { EMPTY_TRAITS, type VersionedTraits } from '../../core/traits.ts';
import type { AppendPlan } from './append-plan.ts';
import { int8Array, textArray } from './binary-arrays.ts';
import type { StatementName } from './statements.ts';

/** A write: a statement and its parameters. */
export type Write = [StatementName, unknown[]];

/** What one transaction knows and has changed about a profile. */
export interface ProfileState {
  /** The workspace of a profile created in this transaction (not yet in the table); else null. */
  readonly newIn: WorkspaceId | null;
  readonly createdAt: number;
  /** The latest `at` this transaction touched the profile with (updated_at = max(updated_at, it)). */
  touchedAt: number | null;
  /** Undefined until loaded. */
  traits: VersionedTraits | undefined;
  consent: VersionedTraits | undefined;
  traitsDirty: boolean;
  consentDirty: boolean;
}

export interface GroupState {
  readonly ws: WorkspaceId;
  readonly groupId: string;
  traits: VersionedTraits;
  exists: boolean;
  dirty: boolean;
  createdAt: number;
  updatedAt: number;
}

/** What an append transaction has buffered, to write when it commits. */
export interface Buffered {
  readonly plan: AppendPlan;
  readonly profiles: ReadonlyMap<ProfileId, ProfileState>;
  readonly folds: readonly { ws: WorkspaceId; from: ProfileId; at: number }[];
  readonly identifiers: readonly { ws: WorkspaceId; id: Identifier; profile: ProfileId; at: number }[];
  readonly groups: Iterable<GroupState>;
  readonly links: readonly { ws: WorkspaceId; groupId: string; profile: ProfileId }[];
  readonly events: readonly { ev: NormalizedEvent; profile: ProfileId }[];
  /** The profile a profile id stands for now: itself, or the one it was merged into. */
  readonly resolve: (profile: ProfileId) => ProfileId;
}

/**
 * The statements that write what an append buffered, at most one per table: new profiles, merges,
 * changed profiles (each once, however many events changed it), identifiers, groups, events.
 */
export function encodeWrites(b: Buffered): Write[] {
  return [...profileWrites(b), ...identifierWrites(b), ...groupWrites(b), ...eventWrites(b)];
}

function profileWrites(b: Buffered): Write[] {
  const writes: Write[] = [];
  const created: ProfileId[] = [];
  const updated: ProfileId[] = [];
  for (const [id, s] of b.profiles) {
    if (s.newIn !== null) created.push(id);
    else if (s.touchedAt !== null || s.traitsDirty || s.consentDirty) updated.push(id);
  }
  if (created.length > 0) {
    const states = created.map((id) => b.profiles.get(id)!);
    writes.push([
      'insertProfiles',
      [
        textArray(created),
        textArray(states.map((s) => s.newIn)),
        textArray(states.map((s) => JSON.stringify((s.traits ?? EMPTY_TRAITS).values))),
        textArray(states.map((s) => JSON.stringify((s.traits ?? EMPTY_TRAITS).versions))),
        textArray(states.map((s) => JSON.stringify((s.consent ?? EMPTY_TRAITS).values))),
        textArray(states.map((s) => JSON.stringify((s.consent ?? EMPTY_TRAITS).versions))),
        int8Array(states.map((s) => s.createdAt)),
        int8Array(states.map((s) => Math.max(s.createdAt, s.touchedAt ?? s.createdAt))),
      ],
    ]);
  }
  if (b.folds.length > 0) {
    // Each merged profile goes straight to the survivor, also when it was merged into a profile
    // that was merged in turn later in the commit.
    const folds = b.folds;
    writes.push([
      'fold',
      [
        textArray(folds.map((f) => f.from)),
        textArray(folds.map((f) => b.resolve(f.from))),
        textArray(folds.map((f) => f.ws)),
        int8Array(folds.map((f) => f.at)),
      ],
    ]);
  }
  if (updated.length > 0) {
    const json = (t: VersionedTraits | undefined, dirty: boolean, part: 'values' | 'versions') =>
      t !== undefined && dirty ? JSON.stringify(t[part]) : null;
    const states = updated.map((id) => b.profiles.get(id)!);
    writes.push([
      'updateProfiles',
      [
        textArray(updated),
        textArray(states.map((s) => json(s.traits, s.traitsDirty, 'values'))),
        textArray(states.map((s) => json(s.traits, s.traitsDirty, 'versions'))),
        textArray(states.map((s) => json(s.consent, s.consentDirty, 'values'))),
        textArray(states.map((s) => json(s.consent, s.consentDirty, 'versions'))),
        int8Array(states.map((s) => s.touchedAt)),
      ],
    ]);
  }
  return writes;
}

function identifierWrites(b: Buffered): Write[] {
  const rows = b.identifiers;
  if (rows.length === 0) return [];
  return [
    [
      'insertIdentifiers',
      [
        textArray(rows.map((r) => r.ws)),
        textArray(rows.map((r) => r.id.kind)),
        textArray(rows.map((r) => r.id.value)),
        textArray(rows.map((r) => b.resolve(r.profile))),
        int8Array(rows.map((r) => r.at)),
      ],
    ],
  ];
}

function groupWrites(b: Buffered): Write[] {
  const writes: Write[] = [];
  const groups = [...b.groups].filter((g) => g.dirty);
  if (groups.length > 0) {
    writes.push([
      'upsertGroups',
      [
        textArray(groups.map((g) => g.ws)),
        textArray(groups.map((g) => g.groupId)),
        textArray(groups.map((g) => JSON.stringify(g.traits.values))),
        textArray(groups.map((g) => JSON.stringify(g.traits.versions))),
        int8Array(groups.map((g) => g.createdAt)),
        int8Array(groups.map((g) => g.updatedAt)),
      ],
    ]);
  }
  if (b.links.length > 0) {
    const links = new Map<string, { ws: WorkspaceId; groupId: string; profile: ProfileId }>();
    for (const l of b.links) {
      const profile = b.resolve(l.profile);
      links.set(`${profile}\u0000${l.groupId}`, { ...l, profile });
    }
    const rows = [...links.values()];
    writes.push([
      'linkGroups',
      [
        textArray(rows.map((r) => r.profile)),
        textArray(rows.map((r) => r.groupId)),
        textArray(rows.map((r) => r.ws)),
      ],
    ]);
  }
  return writes;
}

function eventWrites(b: Buffered): Write[] {
  const rows = b.events;
  if (rows.length === 0) return [];
  const profiles = textArray(rows.map((r) => b.resolve(r.profile)));
  const { count, before, after } = b.plan.eventColumns;
  // Every event of the commit is new, in order: its columns are encoded already.
  if (rows.length === count) return [['insertEvents', [...before, profiles, ...after]]];
  return [
    [
      'insertEvents',
      [
        textArray(rows.map((r) => r.ev.workspaceId)),
        textArray(rows.map((r) => r.ev.sourceId)),
        textArray(rows.map((r) => r.ev.messageId)),
        profiles,
        textArray(rows.map((r) => r.ev.type)),
        textArray(rows.map((r) => r.ev.name)),
        int8Array(rows.map((r) => r.ev.timestamp)),
        int8Array(rows.map((r) => r.ev.receivedAt)),
        textArray(rows.map((r) => r.ev.bodyJson)),
      ],
    ],
  ];
}
