import type { JsonObject, NormalizedEvent } from '../../core/event.ts';
import { asProfileId, type ProfileId, type WorkspaceId } from '../../core/ids.ts';
import type { Identifier } from '../../core/profile.ts';
import { applyTraits, EMPTY_TRAITS, type VersionedTraits } from '../../core/traits.ts';
import type { AppendTx, TraitColumn } from '../apply-events.ts';
import { toVersioned } from '../rows.ts';
import { uuid7 } from '../uuid7.ts';
import { type AppendPlan, groupKey, messageKey, ownerKey } from './append-plan.ts';
import { encodeWrites, type GroupState, type ProfileState } from './append-writes.ts';
import { boolArray, textArray } from './binary-arrays.ts';
import { BEGIN, type Queryable, run } from './statements.ts';

type VersionedRow = { traits: JsonObject; trait_versions: JsonObject };
type StateRow = VersionedRow & { id: string; consent: JsonObject; consent_versions: JsonObject };
/** Traits, trait versions, consent, consent versions. */
type StateJson = [JsonObject, JsonObject, JsonObject, JsonObject];
type OwnerRow = { n: number | null; profile_id: string; user_ids: string[] | null; state: StateJson | null };

/**
 * An append's bulk statements handle thousands of rows, enough for the planner to JIT-compile them,
 * which takes longer than running them: not here.
 */
const BEGIN_APPEND = `${BEGIN}; SET LOCAL jit = off`;

const loadedGroup = (ws: WorkspaceId, groupId: string, row: VersionedRow | undefined): GroupState => ({
  ws,
  groupId,
  traits: row ? toVersioned(row.traits, row.trait_versions) : EMPTY_TRAITS,
  exists: row !== undefined,
  dirty: false,
  createdAt: 0,
  updatedAt: 0,
});

/** Thrown by `commit` when a commit that did not look up stored message ids holds one. */
export class StoredBefore extends Error {
  constructor() {
    super('some of these message ids are already stored');
  }
}

/**
 * One append transaction, implementing `AppendTx`. `begin` takes the workspace locks and reads in a
 * few bulk statements everything the commit refers to, then `applyEvents` runs against that state
 * in memory, buffering every write, and `commit` writes what changed with at most one statement per
 * table: new profiles, merges, changed profiles (each once, however many events changed it),
 * identifiers, groups, events. Other statements run only for look-ups `begin` could not foresee.
 */
export class PgAppend implements AppendTx {
  private readonly owners = new Map<string, ProfileId | null>();
  private readonly userIds = new Map<ProfileId, readonly string[]>();
  private readonly profiles = new Map<ProfileId, ProfileState>();
  private readonly mergedInto = new Map<ProfileId, ProfileId>();
  private readonly folds: { ws: WorkspaceId; from: ProfileId; at: number }[] = [];
  private readonly messages = new Set<string>();
  private readonly groups = new Map<string, GroupState>();
  private readonly newIdentifiers: { ws: WorkspaceId; id: Identifier; profile: ProfileId; at: number }[] = [];
  private readonly newEvents: { ev: NormalizedEvent; profile: ProfileId }[] = [];
  private readonly newLinks: { ws: WorkspaceId; groupId: string; profile: ProfileId }[] = [];

  private plan: AppendPlan | undefined;
  private checkedStored = true;
  /** Owners of later parts of the plan, looked up while the first parts are applied, by key. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly later: Promise<void>[] = [];

  constructor(
    private readonly db: Queryable,
    private readonly schema: string,
  ) {}

  /**
   * Begins the transaction, locks the plan's workspaces (in a fixed order) and reads what the events
   * refer to: the owners of their identifiers with those owners' user ids (and traits, for events
   * that read or write them), their groups and, if `checkStored`, which of their message ids are
   * already stored. The statements go out together, pipelined; each read runs once the locks are
   * held. Resolves once the owners for the plan's first part are in; `ownerOf` waits for a later
   * part's when it needs them.
   *
   * Without `checkStored` every message id not seen earlier in the commit is taken as new, and
   * `commit` throws `StoredBefore` if one was not: the caller then rolls back and runs the commit
   * again with the check.
   */
  async begin(plan: AppendPlan, checkStored: boolean): Promise<void> {
    this.plan = plan;
    this.checkedStored = checkStored;
    const order = [...plan.workspaces.keys()].sort();
    // Everything is encoded before the first statement goes out.
    const storedArgs = checkStored ? [textArray(plan.sources), textArray(plan.messageIds)] : null;
    const lookups: { ws: WorkspaceId; part: number; keys: string[]; args: unknown[] }[] = [];
    const groupLookups: { ws: WorkspaceId; args: unknown[] }[] = [];
    for (const ws of order) {
      const want = plan.workspaces.get(ws)!;
      const parts = Array.from({ length: plan.parts }, () => ({
        keys: [] as string[],
        kinds: [] as string[],
        values: [] as string[],
        rich: [] as boolean[],
      }));
      for (const [key, { id, part }] of want.ids) {
        const p = parts[part]!;
        p.keys.push(key);
        p.kinds.push(id.kind);
        p.values.push(id.value);
        p.rich.push(want.rich.has(key));
      }
      for (const [part, p] of parts.entries()) {
        if (p.keys.length === 0) continue;
        const args = [ws, textArray(p.kinds), textArray(p.values), boolArray(p.rich)];
        lookups.push({ ws, part, keys: p.keys, args });
      }
      if (want.groups.size > 0) groupLookups.push({ ws, args: [ws, textArray([...want.groups])] });
    }

    const begun = this.db.query(BEGIN_APPEND);
    const locks = order.map((ws) => run(this.db, 'lock', [`concierge:${this.schema}:ws:${ws}`]));
    const stored =
      storedArgs && run<{ source_id: string; message_id: string }>(this.db, 'storedMessages', storedArgs);
    const groups = groupLookups.map(({ ws, args }) => ({
      ws,
      rows: run<VersionedRow & { group_id: string }>(this.db, 'groupStates', args),
    }));
    const owners = lookups.map((l) => ({ ...l, rows: run<OwnerRow>(this.db, 'owners', l.args) }));

    const first = owners.filter((o) => o.part === 0);
    await Promise.all([begun, ...locks, stored, ...groups.map((g) => g.rows), ...first.map((o) => o.rows)]);
    if (stored !== null) {
      for (const r of (await stored).rows) this.messages.add(messageKey(r.source_id, r.message_id));
    }
    for (const { ws, rows } of groups) {
      for (const r of (await rows).rows)
        this.groups.set(groupKey(ws, r.group_id), loadedGroup(ws, r.group_id, r));
    }
    await this.found(0, first, await Promise.all(first.map((o) => o.rows)), plan);

    for (let part = 1; part < plan.parts; part++) {
      const these = owners.filter((o) => o.part === part);
      const ready = Promise.all(these.map((o) => o.rows)).then((results) =>
        this.found(part, these, results, plan),
      );
      // Failures surface through `ownerOf` or `commit`, whichever waits first.
      ready.catch(() => undefined);
      this.later.push(ready);
      for (const { keys } of these) for (const key of keys) this.pending.set(key, ready);
    }
  }

  /**
   * Takes in the owners looked up for one part of the plan (`results`, one per lookup). The events
   * of earlier parts may have been applied already, and what they changed stands.
   */
  private found(
    part: number,
    lookups: readonly { keys: string[] }[],
    results: readonly { rows: OwnerRow[] }[],
    plan: AppendPlan,
  ): Promise<void> | undefined {
    for (const [i, { keys }] of lookups.entries()) {
      for (const key of keys) this.owners.set(key, null);
      for (const r of results[i]!.rows) {
        const profile = asProfileId(r.profile_id);
        if (r.n !== null) this.owners.set(keys[r.n - 1]!, profile);
        else {
          if (!this.userIds.has(profile)) this.userIds.set(profile, r.user_ids ?? []);
          if (r.state !== null) this.loaded(profile, r.state);
        }
      }
    }
    // Profiles an event may merge (its identifiers have different owners): their traits are folded.
    const states = new Set<ProfileId>();
    for (const { part: p, keys } of plan.linked) {
      if (p !== part) continue;
      let first: ProfileId | null = null;
      for (const key of keys) {
        const owner = this.owners.get(key) ?? null;
        if (owner === null) continue;
        if (first === null) first = owner;
        else if (owner !== first) {
          for (const k of keys) {
            const o = this.owners.get(k);
            if (o != null && this.profiles.get(o)?.traits === undefined) states.add(o);
          }
          break;
        }
      }
    }
    return states.size > 0 ? this.loadStates([...states]) : undefined;
  }

  /** Takes in a profile's traits and consent as stored, unless this commit has them already. */
  private loaded(profile: ProfileId, [traits, traitVersions, consent, consentVersions]: StateJson): void {
    if (this.mergedInto.has(profile)) return;
    const state = this.stateOf(profile);
    state.traits ??= toVersioned(traits, traitVersions);
    state.consent ??= toVersioned(consent, consentVersions);
  }

  private async loadStates(ids: readonly ProfileId[]): Promise<void> {
    const rows = await run<StateRow>(this.db, 'profileStates', [textArray(ids)]);
    for (const r of rows.rows) {
      this.loaded(asProfileId(r.id), [r.traits, r.trait_versions, r.consent, r.consent_versions]);
    }
  }

  private resolve(profile: ProfileId): ProfileId {
    let p = profile;
    for (let next = this.mergedInto.get(p); next !== undefined; next = this.mergedInto.get(p)) p = next;
    return p;
  }

  /** The state of a profile that exists in the table (or was created in this transaction). */
  private stateOf(profile: ProfileId): ProfileState {
    let state = this.profiles.get(profile);
    if (state === undefined) {
      state = {
        newIn: null,
        createdAt: 0,
        touchedAt: null,
        traits: undefined,
        consent: undefined,
        traitsDirty: false,
        consentDirty: false,
      };
      this.profiles.set(profile, state);
    }
    return state;
  }

  private touch(profile: ProfileId, at: number): ProfileState {
    const state = this.stateOf(profile);
    state.touchedAt = state.touchedAt === null ? at : Math.max(state.touchedAt, at);
    return state;
  }

  async userIdsOf(profile: ProfileId): Promise<readonly string[]> {
    const cached = this.userIds.get(profile);
    if (cached !== undefined) return cached;
    const { rows } = await run<{ user_ids: string[] }>(this.db, 'userIds', [profile]);
    const ids = rows[0]?.user_ids ?? [];
    this.userIds.set(profile, ids);
    return ids;
  }

  async ownerOf(ws: WorkspaceId, id: Identifier): Promise<ProfileId | null> {
    const key = ownerKey(ws, id.kind, id.value);
    const pending = this.pending.get(key);
    if (pending !== undefined) await pending;
    let owner = this.owners.get(key);
    if (owner === undefined) {
      // Not prefetched: ask the table. It holds no change of this transaction yet, but `resolve`
      // follows the merges made so far, and identifiers attached so far are in `owners`.
      const { rows } = await run<{ profile_id: string; user_ids: string[] }>(this.db, 'owner', [
        ws,
        id.kind,
        id.value,
      ]);
      const row = rows[0];
      owner = row === undefined ? null : asProfileId(row.profile_id);
      this.owners.set(key, owner);
      if (row !== undefined && owner !== null && !this.userIds.has(owner))
        this.userIds.set(owner, row.user_ids);
    }
    return owner === null ? null : this.resolve(owner);
  }

  async createProfile(ws: WorkspaceId, at: number): Promise<ProfileId> {
    const id = asProfileId(uuid7(at));
    this.profiles.set(id, {
      newIn: ws,
      createdAt: at,
      touchedAt: at,
      traits: EMPTY_TRAITS,
      consent: EMPTY_TRAITS,
      traitsDirty: false,
      consentDirty: false,
    });
    this.userIds.set(id, []);
    return id;
  }

  async attach(ws: WorkspaceId, profile: ProfileId, id: Identifier, at: number): Promise<void> {
    const key = ownerKey(ws, id.kind, id.value);
    const current = this.owners.get(key);
    // An event can carry one identifier twice (an alias whose previousId is its anonymousId).
    if (current !== undefined && current !== null && this.resolve(current) === profile) return;
    const userIds = id.kind === 'user_id' ? await this.userIdsOf(profile) : null;
    this.newIdentifiers.push({ ws, id, profile, at });
    this.owners.set(key, profile);
    if (userIds !== null) this.userIds.set(profile, [...userIds, id.value]);
    this.touch(profile, at);
  }

  /** Buffered like every other write: `commit` moves the rows of all merged profiles at once. */
  async fold(ws: WorkspaceId, from: ProfileId, into: ProfileId, at: number): Promise<void> {
    const fromUsers = await this.userIdsOf(from);
    const intoUsers = await this.userIdsOf(into);
    this.folds.push({ ws, from, at });
    this.mergedInto.set(from, into);
    this.profiles.delete(from);
    this.userIds.delete(from);
    this.userIds.set(into, [...intoUsers, ...fromUsers]);
    this.touch(into, at);
  }

  async loadTraits(_ws: WorkspaceId, profile: ProfileId, column: TraitColumn): Promise<VersionedTraits> {
    let state = this.stateOf(profile);
    if (state[column] === undefined) {
      await this.loadStates([profile]);
      state = this.stateOf(profile);
    }
    return state[column] ?? EMPTY_TRAITS;
  }

  async saveTraits(
    _ws: WorkspaceId,
    profile: ProfileId,
    column: TraitColumn,
    t: VersionedTraits,
    at: number,
  ): Promise<void> {
    const state = this.touch(profile, at);
    state[column] = t;
    if (column === 'traits') state.traitsDirty = true;
    else state.consentDirty = true;
  }

  async upsertGroup(ev: NormalizedEvent, profile: ProfileId): Promise<void> {
    const groupId = ev.groupId!;
    const key = groupKey(ev.workspaceId, groupId);
    let group = this.groups.get(key);
    if (group === undefined) {
      const { rows } = await run<VersionedRow & { group_id: string }>(this.db, 'groupStates', [
        ev.workspaceId,
        textArray([groupId]),
      ]);
      group = loadedGroup(ev.workspaceId, groupId, rows[0]);
      this.groups.set(key, group);
    }
    const next = applyTraits(group.traits, ev.traits, [ev.timestamp, ev.messageId]);
    if (next !== group.traits || !group.exists) {
      if (!group.exists) group.createdAt = ev.receivedAt;
      group.traits = next;
      group.exists = true;
      group.dirty = true;
      group.updatedAt = ev.receivedAt;
    }
    this.newLinks.push({ ws: ev.workspaceId, groupId, profile });
  }

  async insertEvent(ev: NormalizedEvent, profile: ProfileId): Promise<boolean> {
    const key = messageKey(ev.sourceId, ev.messageId);
    if (this.messages.has(key)) return false;
    this.messages.add(key);
    this.newEvents.push({ ev, profile });
    return true;
  }

  /** Waits for the reads `begin` left running, so that no statement of this commit is left behind. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.later);
  }

  /**
   * Writes everything buffered, at most one statement per table, and commits. The statements are
   * all encoded first, then sent together with the COMMIT, pipelined: if one fails, the server
   * rolls the transaction back at the COMMIT, and the failure is thrown here.
   */
  async commit(): Promise<void> {
    await Promise.all(this.later);
    const writes = encodeWrites({
      plan: this.plan!,
      profiles: this.profiles,
      folds: this.folds,
      identifiers: this.newIdentifiers,
      groups: this.groups.values(),
      links: this.newLinks,
      events: this.newEvents,
      resolve: (profile) => this.resolve(profile),
    });
    const sent = writes.map(([name, values]) => run(this.db, name, values));
    sent.push(this.db.query('COMMIT'));
    const results = await Promise.allSettled(sent);
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed === -1) {
      const done = results.at(-1) as PromiseFulfilledResult<{ command: string }>;
      if (done.value.command !== 'COMMIT')
        throw new Error(`the append was not committed (${done.value.command})`);
      return;
    }
    const err = (results[failed] as PromiseRejectedResult).reason as { code?: unknown; constraint?: unknown };
    if (
      writes[failed]?.[0] === 'insertEvents' &&
      err.code === '23505' &&
      err.constraint === 'events_message'
    ) {
      if (!this.checkedStored) throw new StoredBefore();
      // Only a writer that skips the workspace lock can get here; the transaction was rolled back.
      throw new Error('another writer stored some of these events during the commit; nothing was stored', {
        cause: err,
      });
    }
    throw err;
  }
}
