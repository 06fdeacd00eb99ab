import type { JsonObject } from './event.ts';

/**
 * The version of one trait value: the event time that set it, with the message id breaking ties,
 * so that merging never depends on the order in which events arrive.
 */
export type TraitVersion = readonly [timestamp: number, messageId: string];

/** Trait values together with the version of each top-level key. */
export interface VersionedTraits {
  readonly values: JsonObject;
  readonly versions: Readonly<Record<string, TraitVersion>>;
}

export const EMPTY_TRAITS: VersionedTraits = { values: {}, versions: {} };

export function compareVersions(a: TraitVersion, b: TraitVersion): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/**
 * Applies the traits of one identify (or group) call, Segment-style: each top-level key is
 * replaced by the newer value; keys the call does not mention are kept. A key whose stored value
 * is newer than this call is left alone, which makes the result independent of arrival order.
 * Returns the same object when nothing changed.
 */
export function applyTraits(
  current: VersionedTraits,
  incoming: JsonObject,
  version: TraitVersion,
): VersionedTraits {
  let values: JsonObject | null = null;
  let versions: Record<string, TraitVersion> | null = null;
  for (const key of Object.keys(incoming)) {
    if (key === '__proto__') continue;
    const seen = current.versions[key];
    if (seen !== undefined && compareVersions(seen, version) >= 0) continue;
    values ??= { ...current.values };
    versions ??= { ...current.versions };
    values[key] = incoming[key];
    versions[key] = version;
  }
  return values === null || versions === null ? current : { values, versions };
}

/** Merges two profiles' traits key by key, the newer version of each key winning. */
export function mergeVersionedTraits(a: VersionedTraits, b: VersionedTraits): VersionedTraits {
  const values: JsonObject = { ...a.values };
  const versions: Record<string, TraitVersion> = { ...a.versions };
  for (const key of Object.keys(b.versions)) {
    const vb = b.versions[key]!;
    const va = versions[key];
    if (va === undefined || compareVersions(vb, va) > 0) {
      values[key] = b.values[key];
      versions[key] = vb;
    }
  }
  return { values, versions };
}
