/**
 * Durations in milliseconds and fast timestamp formatting.
 */

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
let isoDay = Number.NaN;
let isoPrefix = '';

/**
 * Formats an instant (milliseconds since the epoch) as ISO 8601 in UTC.
 *
 * Same as `new Date(ts).toISOString()`, faster: the date part is cached, the time part assembled.
 */
export function iso(ts: number): string {
  const day = Math.floor(ts / DAY);
  if (day !== isoDay) {
    isoDay = day;
    isoPrefix = new Date(day * DAY).toISOString().slice(0, 11);
  }
  let ms = ts - day * DAY;
  const h = Math.floor(ms / HOUR);
  ms -= h * HOUR;
  const m = Math.floor(ms / MINUTE);
  ms -= m * MINUTE;
  const sec = Math.floor(ms / SECOND);
  ms -= sec * SECOND;
  return `${isoPrefix}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[sec]}.${THREE_DIGITS[ms]}Z`;
}
