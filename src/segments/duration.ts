const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

/** Longest window accepted: ten years. */
export const MAX_DURATION_MS = 3650 * 86_400_000;

/**
 * Parses a duration such as `30d`, `12h`, `90m`, `45s`, `2w` or `500ms` into milliseconds; null
 * when it is not one (or is zero, or longer than ten years).
 */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  const ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : null;
}

export const DURATION_HINT = 'must be a duration such as "30d", "12h", "90m", "45s" or "2w"';
