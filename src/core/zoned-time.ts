/**
 * Wall-clock time in a profile's time zone, with nothing but `Intl`: the next 09:00 on a Saturday
 * in Europe/Berlin, across daylight-saving changes. Pure: every function takes the instant.
 */

const formatters = new Map<string, Intl.DateTimeFormat | null>();

function formatter(tz: string): Intl.DateTimeFormat | null {
  let f = formatters.get(tz);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: tz,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        weekday: 'short',
      });
    } catch {
      f = null;
    }
    if (formatters.size > 1000) formatters.clear();
    formatters.set(tz, f);
  }
  return f;
}

/** Whether `tz` is an IANA time zone this runtime knows. */
export const isTimeZone = (tz: unknown): tz is string => typeof tz === 'string' && formatter(tz) !== null;

export interface LocalTime {
  readonly year: number;
  /** 1–12. */
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
}

const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** The wall-clock time at instant `t` in `tz` (UTC when the zone is unknown). */
export function localTime(tz: string, t: number): LocalTime {
  const f = formatter(tz);
  if (f === null) {
    const d = new Date(t);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
      weekday: d.getUTCDay(),
    };
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(new Date(t))) p[part.type] = part.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour),
    minute: Number(p.minute),
    second: Number(p.second),
    weekday: WEEKDAY[p.weekday!] ?? 0,
  };
}

/** How far `tz` is ahead of UTC at instant `t`, in ms. */
export function zoneOffset(tz: string, t: number): number {
  const l = localTime(tz, t);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
  return asUtc - Math.floor(t / 1000) * 1000;
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
