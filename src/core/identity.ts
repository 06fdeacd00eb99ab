import type { ProfileId } from './ids.ts';
import type { Identifier } from './profile.ts';
import { identifierKey } from './profile.ts';

/** What the store knows about a profile that owns one of an event's identifiers. */
export interface OwnerRef {
  readonly id: ProfileId;
  readonly userIds: readonly string[];
}

export interface IdentityRules {
  /**
   * The most user ids one profile may hold. Merges that would exceed it are refused, which stops
   * a shared device or a buggy anonymous id from collapsing many customers into one profile.
   */
  readonly maxUserIdsPerProfile: number;
}

/** A merge the rules refused, kept for logs and metrics. */
export interface RefusedLink {
  readonly identifier: Identifier;
  readonly owner: ProfileId | null;
  readonly reason: 'user_id_limit';
}

/**
 * The identity decision for one event: which profile it belongs to, which profiles fold into that
 * one, and which new identifiers attach to it. `target: null` means a new profile is created.
 */
export interface IdentityPlan {
  readonly target: ProfileId | null;
  readonly merge: readonly ProfileId[];
  readonly attach: readonly Identifier[];
  readonly refused: readonly RefusedLink[];
}

/**
 * Decides how one event's identifiers resolve, as Segment's identity graph does: every
 * identifier an event carries links to the same person, so profiles that own any of them merge.
 * `identifiers` come primary first (the user id, else the anonymous id). The result depends only on
 * which identifiers are linked, not on arrival order, as long as no merge hits the user-id limit.
 */
export function planIdentity(
  identifiers: readonly Identifier[],
  owners: ReadonlyMap<string, OwnerRef>,
  rules: IdentityRules,
): IdentityPlan {
  let target: OwnerRef | null = null;
  const userIds = new Set<string>();
  const merge: ProfileId[] = [];
  const attach: Identifier[] = [];
  const refused: RefusedLink[] = [];
  const fits = (extra: readonly string[]): boolean => {
    let n = userIds.size;
    for (const u of extra) if (!userIds.has(u)) n++;
    return n <= rules.maxUserIdsPerProfile;
  };

  for (const [i, id] of identifiers.entries()) {
    const owner = owners.get(identifierKey(id));
    if (owner === undefined) {
      if (id.kind === 'user_id' && !userIds.has(id.value)) {
        if (!fits([id.value])) {
          refused.push({ identifier: id, owner: null, reason: 'user_id_limit' });
          continue;
        }
        userIds.add(id.value);
      }
      attach.push(id);
      continue;
    }
    if (target === null) {
      // The primary identifier is new (or this is the primary): adopt its owner when compatible.
      if (i === 0 || fits(owner.userIds)) {
        target = owner;
        for (const u of owner.userIds) userIds.add(u);
      } else {
        refused.push({ identifier: id, owner: owner.id, reason: 'user_id_limit' });
      }
      continue;
    }
    if (owner.id === target.id || merge.includes(owner.id)) continue;
    if (fits(owner.userIds)) {
      merge.push(owner.id);
      for (const u of owner.userIds) userIds.add(u);
    } else {
      refused.push({ identifier: id, owner: owner.id, reason: 'user_id_limit' });
    }
  }
  return { target: target?.id ?? null, merge, attach, refused };
}

/** Trait names usable as identifiers: plain names, and not the two built-in kinds. */
export const isIdentifierTraitName = (name: string): boolean =>
  /^[A-Za-z_][\w.-]{0,63}$/.test(name) && name !== 'user_id' && name !== 'anonymous_id';
