import type { ProfileId } from '../../src/core/ids.ts';
import { type CompactCommit, profileColumn } from '../../src/segments/compact.ts';

/** A commit as plain arrays, for writing one by hand. */
export interface PlainCommit {
  readonly profiles: readonly (ProfileId | null)[];
  /** A user id each, or none; no anonymous ids. */
  readonly userIds?: readonly (string | null)[];
  readonly facts: {
    readonly at: readonly number[];
    readonly names: readonly string[];
    readonly name: readonly number[];
    readonly ts: readonly number[];
    readonly tie: readonly number[];
    readonly width: readonly number[];
    readonly values: readonly unknown[];
  };
  readonly merges?: CompactCommit['merges'];
  readonly traits?: CompactCommit['traits'];
}

/** The compact commit of a plain one, its columns in the arrays the engine reads. */
export function commitOf(c: PlainCommit): CompactCommit {
  const n = c.profiles.length;
  return {
    profiles: profileColumn(c.profiles),
    identities: c.userIds ?? new Array(n).fill(null),
    anonymous: new Uint8Array(n),
    facts: {
      count: c.facts.at.length,
      at: Int32Array.from(c.facts.at),
      names: c.facts.names,
      name: Int32Array.from(c.facts.name),
      ts: Float64Array.from(c.facts.ts),
      tie: Float64Array.from(c.facts.tie),
      width: Int32Array.from(c.facts.width),
      values: c.facts.values,
    },
    merges: c.merges ?? [],
    traits: c.traits ?? [],
  };
}

/**
 * A compact commit of these events (profile, name), in order, with no identities or values: the
 * time and tie-breaker of the event at `i` come from `time(i)`.
 */
export function compactCommitOf(
  events: readonly (readonly [ProfileId, string])[],
  time: (i: number) => { ts: number; tie: number },
  merges: CompactCommit['merges'] = [],
  traits: CompactCommit['traits'] = [],
): CompactCommit {
  const times = events.map((_, i) => time(i));
  const names = [...new Set(events.map(([, n]) => n))];
  return commitOf({
    profiles: events.map(([p]) => p),
    facts: {
      at: events.map((_, i) => i),
      names,
      name: events.map(([, n]) => names.indexOf(n)),
      ts: times.map((t) => t.ts),
      tie: times.map((t) => t.tie),
      width: events.map(() => 0),
      values: [],
    },
    merges,
    traits,
  });
}
