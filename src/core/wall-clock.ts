/**
 * Wall-clock arithmetic in IANA time zones with nothing but `Intl`: what a profile's clock reads
 * at an instant, and the first instant at which it reads a given time — exact across daylight
 * saving changes (a wall time skipped by a spring-forward gap resolves to the instant the clocks
 * jump; a wall time that happens twice resolves to its first occurrence not before a bound).
 *
 * Pure: formatters are cached per zone, which is memoisation, not state the answers depend on.
 */

const MINUTE = 60_000;
const DAY = 86_400_000;

/** A profile's wall clock at one instant. */
export interface LocalTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** `hour * 60 + minute`. */
  readonly minuteOfDay: number;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat | null>();

function formatter(zone: string): Intl.DateTimeFormat | null {
  let f = formatters.get(zone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      f = null;
    }
    formatters.set(zone, f);
  }
  return f;
}

/** True when `zone` is an IANA time zone this runtime knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(zone: string): boolean {
  return zone !== '' && formatter(zone) !== null;
}

const FORMATTED = /^(\d+)\/(\d+)\/(\d+), (\d+):(\d+):(\d+)$/;

/** The zone's offset at `t` straight from `Intl` (a few microseconds). */
function offsetFromIntl(f: Intl.DateTimeFormat, t: number): number {
  const whole = t - (((t % 1000) + 1000) % 1000);
  const m = FORMATTED.exec(f.format(whole));
  let wall: number;
  if (m) {
    wall = Date.UTC(
      Number(m[3]),
      Number(m[1]) - 1,
      Number(m[2]),
      Number(m[4]) % 24,
      Number(m[5]),
      Number(m[6]),
    );
  } else {
    const p: Record<string, number> = {};
    for (const part of f.formatToParts(whole)) p[part.type] = Number(part.value);
    wall = Date.UTC(
      p.year ?? 0,
      (p.month ?? 1) - 1,
      p.day ?? 1,
      (p.hour ?? 0) % 24,
      p.minute ?? 0,
      p.second ?? 0,
    );
  }
  return wall - whole;
}

const QUARTER = 15 * MINUTE;
const MAX_CACHED = 100_000;
const offsets = new Map<string, Map<number, number>>();

/**
 * How far the zone's wall clock is ahead of UTC at instant `t`, in ms. Offsets are remembered per
 * quarter hour (every offset change of the zone database since 1970 falls on a quarter hour); a
 * quarter in which the offset changes is never remembered, so the answer is always `Intl`'s.
 */
export function utcOffset(zone: string, t: number): number {
  const f = formatter(zone);
  if (f === null) throw new RangeError(`unknown time zone '${zone}'`);
  let cache = offsets.get(zone);
  if (cache === undefined) {
    cache = new Map();
    offsets.set(zone, cache);
  }
  const q = Math.floor(t / QUARTER);
  const known = cache.get(q);
  if (known !== undefined) return known;
  const first = offsetFromIntl(f, q * QUARTER);
  const last = offsetFromIntl(f, (q + 1) * QUARTER - 1000);
  if (first !== last) return offsetFromIntl(f, t);
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(q, first);
  return first;
}

/** The wall clock in `zone` at instant `t`. Throws a RangeError for an unknown zone. */
export function localTime(zone: string, t: number): LocalTime {
  const d = new Date(t + utcOffset(zone, t));
  const hour = d.getUTCHours();
  const minute = d.getUTCMinutes();
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour,
    minute,
    second: d.getUTCSeconds(),
    minuteOfDay: hour * 60 + minute,
    weekday: d.getUTCDay(),
  };
}

/** A calendar date, month 1–12. */
export interface LocalDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/** The date `days` after `date` (negative goes back). */
export function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/**
 * The first instant not before `notBefore` at which the wall clock in `zone` reads `minuteOfDay`
 * on `date`. When that wall time does not exist (skipped by a daylight-saving gap), the instant the
 * clocks jump over it — the first moment the wall clock reads later than it. When it happens twice
 * (clocks set back), the first occurrence not before `notBefore`. Null when both occurrences are
 * before `notBefore`.
 */
export function wallTimeToInstant(
  zone: string,
  date: LocalDate,
  minuteOfDay: number,
  notBefore = Number.NEGATIVE_INFINITY,
): number | null {
  const wall = Date.UTC(date.year, date.month - 1, date.day, 0, minuteOfDay);
  // The offsets in force around this wall time: no zone changes its offset twice within two days.
  const before = utcOffset(zone, wall - DAY);
  const after = utcOffset(zone, wall + DAY);
  let best: number | null = null;
  for (const o of before === after ? [before] : [before, after]) {
    const candidate = wall - o;
    if (utcOffset(zone, candidate) === o && candidate >= notBefore && (best === null || candidate < best)) {
      best = candidate;
    }
  }
  if (best !== null || before === after) return best;
  const early = wall - after;
  const late = wall - before;
  if (early > late || utcOffset(zone, early) === after) {
    // Clocks set back and both occurrences lie before the bound.
    return null;
  }
  // A gap: find the jump between `early` (old offset) and `late` (new offset) to the minute.
  let lo = early;
  let hi = late;
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / (2 * MINUTE)) * MINUTE;
    if (utcOffset(zone, mid) === before) lo = mid;
    else hi = mid;
  }
  return hi >= notBefore ? hi : null;
}

/** True when a wall-clock minute lies in `[start, end)`, a window that may wrap past midnight. */
export function inDailyWindow(minuteOfDay: number, start: number, end: number): boolean {
  return start < end ? minuteOfDay >= start && minuteOfDay < end : minuteOfDay >= start || minuteOfDay < end;
}

/**
 * The first instant not before `t` at which the wall clock in `zone` is outside the daily window
 * `[start, end)` (minutes of the day; `start > end` wraps past midnight): `t` itself when it is
 * already outside, otherwise the window's end.
 */
export function nextOutsideWindow(zone: string, t: number, start: number, end: number): number {
  const l = localTime(zone, t);
  if (!inDailyWindow(l.minuteOfDay, start, end)) return t;
  const endsTomorrow = start > end && l.minuteOfDay >= start;
  const date = endsTomorrow ? addDays(l, 1) : l;
  const at = wallTimeToInstant(zone, date, end, t);
  // Unreachable for real zones (the end of the window lies ahead); a day later keeps it safe.
  return at ?? wallTimeToInstant(zone, addDays(date, 1), end, t) ?? t + DAY;
}

/**
 * The first instant not before `t` at which the wall clock in `zone` reads `minuteOfDay` (or, on a
 * day a gap skips it, the jump): today's when still ahead, otherwise tomorrow's.
 */
export function nextWallTime(zone: string, t: number, minuteOfDay: number): number {
  const l = localTime(zone, t);
  const exact = l.minuteOfDay === minuteOfDay && l.second === 0 && t % 1000 === 0;
  if (exact) return t;
  // Today's occurrence may still be ahead even past that wall time, when the clocks went back.
  return (
    wallTimeToInstant(zone, l, minuteOfDay, t) ??
    wallTimeToInstant(zone, addDays(l, 1), minuteOfDay, t) ??
    wallTimeToInstant(zone, addDays(l, 2), minuteOfDay, t) ??
    t + DAY
  );
}
