import type { JsonObject } from './event.ts';
import type { ProfileId } from './ids.ts';

/** The unified profile of one person, in the shape the admin API returns. */
export interface Profile {
  readonly id: ProfileId;
  readonly userIds: string[];
  readonly anonymousIds: string[];
  /** Other identifiers by kind (identifier traits such as `email`). */
  readonly identifiers: Record<string, string[]>;
  readonly traits: JsonObject;
  readonly computed: JsonObject;
  readonly segments: string[];
  readonly consent: JsonObject;
  readonly groups: string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * Kinds of identifier that resolve to a profile: `user_id`, `anonymous_id`, or the name of an
 * identifier trait configured for the workspace (such as `email`).
 */
export type IdentifierKind = string;

export interface Identifier {
  readonly kind: IdentifierKind;
  readonly value: string;
}

export const identifierKey = (id: Identifier): string => `${id.kind}\u0000${id.value}`;
