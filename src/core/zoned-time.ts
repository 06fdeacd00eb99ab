/**
 * Wall-clock time in a profile's time zone for journeys: the next 09:00 on a Saturday in
 * Europe/Berlin, across daylight-saving changes. Built on the zone offsets of wall-clock.ts; an
 * unknown zone counts as UTC. Pure: every function takes the instant.
 */
import {
  isTimeZone as isKnownZone,
  type LocalTime,
  utcOffset,
  localTime as wallClockAt,
} from './wall-clock.ts';

const known = (tz: string): boolean => tz !== '' && isKnownZone(tz);

/** Whether `tz` is an IANA time zone this runtime knows. */
export const isTimeZone = (tz: unknown): tz is string => typeof tz === 'string' && known(tz);

export type { LocalTime } from './wall-clock.ts';

/** How far `tz` is ahead of UTC at instant `t`, in ms (0 for a zone this runtime does not know). */
export function zoneOffset(tz: string, t: number): number {
  return known(tz) ? utcOffset(tz, t) : 0;
}

/** The wall-clock time at instant `t` in `tz` (UTC when the zone is unknown). */
export function localTime(tz: string, t: number): LocalTime {
  return wallClockAt(known(tz) ? tz : 'UTC', t);
}

/**
 * The instant a wall-clock time happens in `tz`. A time skipped by a daylight-saving change
 * (02:30 on the spring-forward night) maps to the same distance past the change; a time that
 * happens twice maps to its first occurrence.
 */
export function zonedInstant(
  tz: string,
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  const first = wall - zoneOffset(tz, wall);
  const second = wall - zoneOffset(tz, first);
  if (first === second) return first;
  // Offsets disagree around a change: prefer the earlier instant that shows this wall time.
  const a = Math.min(first, second);
  const b = Math.max(first, second);
  const shows = (t: number) => {
    const l = localTime(tz, t);
    return l.hour === hour && l.minute === minute;
  };
  if (shows(a)) return a;
  if (shows(b)) return b;
  return b;
}

/**
 * The first instant at or after `t` when the clock in `tz` reads `hour:minute`, on one of
 * `weekdays` (0 = Sunday) when given.
 */
export function nextTimeOfDay(
  tz: string,
  t: number,
  hour: number,
  minute: number,
  weekdays: readonly number[] | null = null,
): number {
  const today = localTime(tz, t);
  for (let k = 0; k <= 8; k++) {
    const d = new Date(Date.UTC(today.year, today.month - 1, today.day + k));
    if (weekdays !== null && !weekdays.includes(d.getUTCDay())) continue;
    const at = zonedInstant(tz, d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), hour, minute);
    if (at >= t) return at;
  }
  // Unreachable for a non-empty weekday list: eight days hold every weekday.
  return t;
}

/** The instant `hour:minute` happens in `tz` on the local calendar day of instant `t`. */
export function atTimeOnDayOf(tz: string, t: number, hour: number, minute: number): number {
  const l = localTime(tz, t);
  return zonedInstant(tz, l.year, l.month, l.day, hour, minute);
}
