import type { ProfileId } from '../../src/core/ids.ts';
import type { CompactCommit } from '../../src/segments/compact.ts';

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
  return {
    profiles: events.map(([p]) => p),
    userIds: events.map(() => null),
    anonymousIds: events.map(() => null),
    facts: {
      at: events.map((_, i) => i),
      names: [...new Set(events.map(([, n]) => n))],
      name: events.map(([, n]) => [...new Set(events.map(([, m]) => m))].indexOf(n)),
      ts: times.map((t) => t.ts),
      tie: times.map((t) => t.tie),
      width: events.map(() => 0),
      values: [],
    },
    merges,
    traits,
  };
}
