import type { NormalizedEvent } from '../core/event.ts';
import { type OwnerRef, planIdentity, type RefusedLink } from '../core/identity.ts';
import type { ProfileId, WorkspaceId } from '../core/ids.ts';
import { type Identifier, identifierKey } from '../core/profile.ts';
import { applyTraits, mergeVersionedTraits, type VersionedTraits } from '../core/traits.ts';
import type { AppendOutcome, CommitChanges, IdentityConfig } from './port.ts';

/** Which versioned JSON column of a profile. */
export type TraitColumn = 'traits' | 'consent';

/**
 * The operations one append transaction needs from an adapter. Both adapters implement it over
 * their own SQL, so the identity and trait rules live in one place: `applyEvents` below.
 */
export interface AppendTx {
  /** The profile that owns the identifier, following merges; null when none does. */
  ownerOf(ws: WorkspaceId, id: Identifier): Promise<ProfileId | null>;
  /** The user ids a profile holds (asked only when an event's identifiers need a decision). */
  userIdsOf(profile: ProfileId): Promise<readonly string[]>;
  createProfile(ws: WorkspaceId, at: number): Promise<ProfileId>;
  attach(ws: WorkspaceId, profile: ProfileId, id: Identifier, at: number): Promise<void>;
  /** Moves identifiers, events and groups of `from` to `into`, deletes `from`, records the merge. */
  fold(ws: WorkspaceId, from: ProfileId, into: ProfileId, at: number): Promise<void>;
  loadTraits(ws: WorkspaceId, profile: ProfileId, column: TraitColumn): Promise<VersionedTraits>;
  saveTraits(
    ws: WorkspaceId,
    profile: ProfileId,
    column: TraitColumn,
    t: VersionedTraits,
    at: number,
  ): Promise<void>;
  upsertGroup(ev: NormalizedEvent, profile: ProfileId): Promise<void>;
  /** False when (source, messageId) is already stored. */
  insertEvent(ev: NormalizedEvent, profile: ProfileId): Promise<boolean>;
  /**
   * Optional, for an adapter that remembers: the profile that this user id and this anonymous id
   * were last both found to belong to, if nothing has moved identifiers since; else undefined.
   * Most events carry a known pair, and one look-up then answers for both identifiers.
   */
  pairOwner?(ws: WorkspaceId, userId: string, anonymousId: string): ProfileId | undefined;
  /** Called when a user id and an anonymous id were both found to belong to `profile`. */
  rememberPair?(ws: WorkspaceId, userId: string, anonymousId: string, profile: ProfileId): void;
  /**
   * Optional, for an adapter whose reads and writes inside the transaction are synchronous:
   * `ownerOf` and `insertEvent` answered at once. With both, the usual event (a track, page or
   * screen of known people) is applied without waiting on a promise, which costs more than the
   * look-ups themselves when the answers are in memory.
   */
  readonly now?: {
    ownerOf(ws: WorkspaceId, id: Identifier): ProfileId | null;
    insertEvent(ev: NormalizedEvent, profile: ProfileId): boolean;
  };
}

/** Collects a commit's `CommitChanges` while `applyEvents` runs. */
export class ChangeCollector {
  readonly profiles: (ProfileId | null)[] = [];
  readonly merges: { from: ProfileId; into: ProfileId; at: number }[] = [];
  private readonly traitsChanged = new Map<ProfileId, WorkspaceId>();

  traitsOf(ws: WorkspaceId, profile: ProfileId): void {
    this.traitsChanged.set(profile, ws);
  }

  merged(from: ProfileId, into: ProfileId): void {
    this.merges.push({ from, into, at: this.profiles.length });
    this.traitsChanged.delete(from);
  }

  /** Reads the changed profiles' traits as the transaction leaves them. */
  async finish(tx: AppendTx): Promise<CommitChanges> {
    const traits: CommitChanges['traits'] = [];
    for (const [profile, ws] of this.traitsChanged) {
      traits.push([profile, (await tx.loadTraits(ws, profile, 'traits')).values]);
    }
    return { profiles: this.profiles, merges: this.merges, traits };
  }
}

/** Receives identity merges the rules refused, for logs and metrics. */
export type RefusalSink = (ws: WorkspaceId, refused: readonly RefusedLink[]) => void;

const normalizeIdentifierTrait = (kind: string, v: unknown): string | null => {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  const s = String(v).trim();
  if (s === '') return null;
  return kind === 'email' ? s.toLowerCase() : s;
};

/** An event's identifiers, primary first. */
async function identifiersOf(tx: AppendTx, ev: NormalizedEvent, cfg: IdentityConfig): Promise<Identifier[]> {
  const ids: Identifier[] = [];
  if (ev.userId !== null) ids.push({ kind: 'user_id', value: ev.userId });
  if (ev.type === 'alias' && ev.previousId !== null) {
    // previousId may be an earlier user id or an anonymous id; an unknown one is taken as anonymous.
    const asUser: Identifier = { kind: 'user_id', value: ev.previousId };
    const known = await tx.ownerOf(ev.workspaceId, asUser);
    ids.push(known !== null ? asUser : { kind: 'anonymous_id', value: ev.previousId });
  }
  if (ev.anonymousId !== null) ids.push({ kind: 'anonymous_id', value: ev.anonymousId });
  if (ev.type === 'identify') {
    for (const kind of cfg.identifierTraits) {
      const value = normalizeIdentifierTrait(kind, ev.traits[kind]);
      if (value !== null) ids.push({ kind, value });
    }
  }
  // An alias whose previousId is also its anonymousId names one identifier twice.
  if (ev.type !== 'alias' && ev.type !== 'identify') return ids;
  const seen = new Set<string>();
  return ids.filter((id) => {
    const key = identifierKey(id);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function foldTraits(
  tx: AppendTx,
  ws: WorkspaceId,
  from: ProfileId,
  into: ProfileId,
  at: number,
  changes: ChangeCollector | undefined,
) {
  for (const column of ['traits', 'consent'] as const) {
    const a = await tx.loadTraits(ws, into, column);
    const b = await tx.loadTraits(ws, from, column);
    if (Object.keys(b.versions).length > 0) {
      await tx.saveTraits(ws, into, column, mergeVersionedTraits(a, b), at);
      if (column === 'traits') changes?.traitsOf(ws, into);
    }
  }
}

async function updateColumn(
  tx: AppendTx,
  ev: NormalizedEvent,
  profile: ProfileId,
  column: TraitColumn,
  incoming: Record<string, unknown>,
  changes: ChangeCollector | undefined,
) {
  const current = await tx.loadTraits(ev.workspaceId, profile, column);
  const next = applyTraits(current, incoming, [ev.timestamp, ev.messageId]);
  if (next === current) return;
  await tx.saveTraits(ev.workspaceId, profile, column, next, ev.receivedAt);
  if (column === 'traits') changes?.traitsOf(ev.workspaceId, profile);
}

/**
 * The owners of an event's user id and anonymous id (in `identifiersOf`'s order), found without
 * waiting, for an event that only adds to the log (a track, page or screen without consent);
 * undefined when the adapter answers only asynchronously or the event is of another kind. A pair
 * looked up and found to belong to one profile is remembered, as `resolveProfile` does.
 */
function ownersNow(tx: AppendTx, ev: NormalizedEvent): (ProfileId | null)[] | undefined {
  const now = tx.now;
  if (now === undefined || ev.consent !== null) return undefined;
  if (ev.type !== 'track' && ev.type !== 'page' && ev.type !== 'screen') return undefined;
  const ws = ev.workspaceId;
  const { userId, anonymousId } = ev;
  if (userId !== null && anonymousId !== null) {
    const known = tx.pairOwner?.(ws, userId, anonymousId);
    if (known !== undefined) return [known, known];
  }
  const found: (ProfileId | null)[] = [];
  if (userId !== null) found.push(now.ownerOf(ws, { kind: 'user_id', value: userId }));
  if (anonymousId !== null) found.push(now.ownerOf(ws, { kind: 'anonymous_id', value: anonymousId }));
  const [first, second] = found;
  if (second !== undefined && first && first === second) tx.rememberPair?.(ws, userId!, anonymousId!, first);
  return found;
}

/** Resolves the event's profile, applying merges and new identifiers. */
export async function resolveProfile(
  tx: AppendTx,
  ev: NormalizedEvent,
  cfg: IdentityConfig,
  onRefused?: RefusalSink,
  changes?: ChangeCollector,
  /** The owners of the event's identifiers, when already looked up (see `ownersNow`). */
  lookedUp?: readonly (ProfileId | null)[],
): Promise<ProfileId> {
  const ws = ev.workspaceId;
  // An identify may carry identifier traits and an alias a previous id: only other types are
  // answered by their pair of ids alone.
  const pair = ev.userId !== null && ev.anonymousId !== null && ev.type !== 'identify' && ev.type !== 'alias';
  if (pair && lookedUp === undefined && tx.pairOwner !== undefined) {
    const known = tx.pairOwner(ws, ev.userId!, ev.anonymousId!);
    if (known !== undefined) return known;
  }
  const ids = await identifiersOf(tx, ev, cfg);
  let found = lookedUp;
  if (found === undefined) {
    const looked: (ProfileId | null)[] = [];
    for (const id of ids) looked.push(await tx.ownerOf(ws, id));
    found = looked;
  }
  // The usual case: every identifier is known and points at one profile; nothing to decide.
  const first = found[0];
  if (first && found.every((o) => o === first)) {
    if (pair) tx.rememberPair?.(ws, ev.userId!, ev.anonymousId!, first);
    return first;
  }
  const owners = new Map<string, OwnerRef>();
  for (const [i, id] of ids.entries()) {
    const owner = found[i];
    if (owner) owners.set(identifierKey(id), { id: owner, userIds: await tx.userIdsOf(owner) });
  }
  const plan = planIdentity(ids, owners, cfg);
  if (plan.refused.length > 0) onRefused?.(ws, plan.refused);
  const at = ev.receivedAt;
  const target = plan.target ?? (await tx.createProfile(ws, at));
  for (const from of plan.merge) {
    await foldTraits(tx, ws, from, target, at, changes);
    await tx.fold(ws, from, target, at);
    changes?.merged(from, target);
  }
  for (const id of plan.attach) await tx.attach(ws, target, id, at);
  return target;
}

/**
 * Applies the events of several requests in order inside one transaction: resolves each event's
 * profile, folds merged profiles, applies identify traits and consent with newest-wins per key,
 * records groups, and appends the event unless its message id was seen before.
 */
export async function applyEvents(
  tx: AppendTx,
  groups: readonly (readonly NormalizedEvent[])[],
  identity: (ws: WorkspaceId) => IdentityConfig,
  onRefused?: RefusalSink,
  changes?: ChangeCollector,
): Promise<AppendOutcome[]> {
  const outcomes: AppendOutcome[] = [];
  for (const group of groups) {
    let stored = 0;
    let duplicates = 0;
    for (const ev of group) {
      // The usual event, of people already known, takes the path without promises.
      const owners = ownersNow(tx, ev);
      const known = owners?.[0];
      let profile: ProfileId;
      let inserted: boolean;
      if (known && owners!.every((o) => o === known)) {
        profile = known;
        inserted = tx.now!.insertEvent(ev, known);
      } else {
        profile = await resolveProfile(tx, ev, identity(ev.workspaceId), onRefused, changes, owners);
        inserted = await tx.insertEvent(ev, profile);
      }
      if (!inserted) {
        duplicates++;
        changes?.profiles.push(null);
        continue;
      }
      stored++;
      changes?.profiles.push(profile);
      if (ev.type === 'identify' && Object.keys(ev.traits).length > 0) {
        await updateColumn(tx, ev, profile, 'traits', ev.traits, changes);
      }
      if (ev.consent !== null) await updateColumn(tx, ev, profile, 'consent', ev.consent, changes);
      if (ev.type === 'group') await tx.upsertGroup(ev, profile);
    }
    outcomes.push({ stored, duplicates });
  }
  return outcomes;
}
