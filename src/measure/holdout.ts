/**
 * The global holdout: a fixed share of the workspace's profiles that never receives promotional
 * messages, the honest measure of the whole programme. Membership is a pure function of the
 * workspace's salt and the profile id, so every part of the engine (the send path, the report)
 * agrees on it without storing a list, and raising the percentage only adds profiles: those held
 * out at 5 % stay held out at 10 %.
 */

import { hash53 } from '../core/hash53.ts';
import type { Checked, DefinitionError } from '../segments/definition.ts';
import type { Assignment } from './experiment-report.ts';

/** The experiment id under which the experiment report compares the holdout with the rest. */
export const GLOBAL_HOLDOUT_EXPERIMENT = 'global-holdout';
/** The workspace setting (store `setSetting`) holding `{"percent", "salt"?}` as JSON. */
export const HOLDOUT_SETTING_KEY = 'global_holdout';
/** The variation of held-out profiles (the report's control). */
export const HOLDOUT_VARIATION = 'holdout';
/** The variation of everyone else. */
export const EXPOSED_VARIATION = 'exposed';

/** Buckets per 100 %: percentages resolve to 0.0001. */
const BUCKETS = 1_000_000;

/**
 * Whether a profile is in the global holdout of `percent` % (0–100). Deterministic: the
 * profile's bucket is a 53-bit hash of the salt and the id, modulo a million, and the profile is
 * held out when its bucket is below percent × 10,000.
 */
export function inGlobalHoldout(workspaceSalt: string, profileId: string, percent: number): boolean {
  if (!(percent > 0)) return false;
  if (percent >= 100) return true;
  return hash53(`${workspaceSalt}\u0000${profileId}`) % BUCKETS < Math.round(percent * (BUCKETS / 100));
}

/** The stored setting. `salt` is `null` until one is set: the workspace id is used then. */
export interface HoldoutSetting {
  readonly percent: number;
  readonly salt: string | null;
}

export const NO_HOLDOUT: HoldoutSetting = { percent: 0, salt: null };

/** The salt to hash with: the setting's own, else the workspace id. */
export const holdoutSalt = (setting: HoldoutSetting, workspaceId: string): string =>
  setting.salt ?? workspaceId;

/** Reads the stored setting; absent or unreadable means no holdout. */
export function parseHoldoutSetting(stored: string | null): HoldoutSetting {
  if (stored === null) return NO_HOLDOUT;
  try {
    const v = JSON.parse(stored) as { percent?: unknown; salt?: unknown };
    const percent = typeof v.percent === 'number' && v.percent >= 0 && v.percent <= 100 ? v.percent : 0;
    return { percent, salt: typeof v.salt === 'string' && v.salt !== '' ? v.salt : null };
  } catch {
    return NO_HOLDOUT;
  }
}

/** Checks a `PUT /api/settings/holdout` body: `{"percent": 0–100, "salt"?: string}`. */
export function checkHoldoutSetting(body: unknown, current: HoldoutSetting): Checked<HoldoutSetting> {
  const errors: DefinitionError[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, errors: [{ path: '', message: 'must be a JSON object like {"percent": 5}' }] };
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b))
    if (k !== 'percent' && k !== 'salt')
      errors.push({ path: k, message: 'is not an allowed key (allowed: percent, salt)' });
  const percent = b.percent;
  if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100)
    errors.push({
      path: 'percent',
      message: `must be a number from 0 to 100, not ${JSON.stringify(percent)}`,
    });
  let salt = current.salt;
  if (b.salt !== undefined) {
    if (typeof b.salt !== 'string' || b.salt === '' || b.salt.length > 200)
      errors.push({ path: 'salt', message: 'must be a non-empty string of at most 200 characters' });
    else salt = b.salt;
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { percent: percent as number, salt } };
}

/**
 * Assignments of the `global-holdout` experiment: every profile that has an event is assigned at
 * its first event, to `holdout` or `exposed`.
 */
export function holdoutAssignments(
  firstSeen: Iterable<readonly [profileId: string, timestamp: number]>,
  salt: string,
  percent: number,
): Assignment[] {
  const out: Assignment[] = [];
  for (const [profileId, timestamp] of firstSeen) {
    const variation = inGlobalHoldout(salt, profileId, percent) ? HOLDOUT_VARIATION : EXPOSED_VARIATION;
    out.push({
      profileId,
      experimentId: GLOBAL_HOLDOUT_EXPERIMENT,
      variation,
      variationName: variation,
      timestamp,
    });
  }
  return out;
}

/** The planned split for the sample-ratio check of the holdout report. */
export const holdoutShares = (percent: number): Record<string, number> => ({
  [HOLDOUT_VARIATION]: percent,
  [EXPOSED_VARIATION]: 100 - percent,
});
