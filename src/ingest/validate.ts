import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { EVENT_TYPES, type EventType, type JsonObject } from '../core/event.ts';
import { MESSAGE_SCHEMAS } from './schemas.ts';

/** One problem with one field of a message, in the tracking API's error shape. */
export interface FieldError {
  index?: number;
  path: string;
  message: string;
}

export interface Limits {
  /** Largest event, in bytes of its JSON. */
  readonly maxEventBytes: number;
  /** Deepest nesting of objects and arrays inside one event. */
  readonly maxDepth: number;
}

export const DEFAULT_LIMITS: Limits = { maxEventBytes: 32 * 1024, maxDepth: 32 };

const CHECKS = Object.fromEntries(
  Object.entries(MESSAGE_SCHEMAS).map(([type, schema]) => [type, TypeCompiler.Compile(schema as TSchema)]),
) as Record<EventType, TypeCheck<TSchema>>;

// ISO 8601 date-time, as Segment's libraries send it (date alone also accepted).
const ISO_8601 =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * The last two answers of `parseTimestamp`: a message's timestamp is parsed when it is validated
 * and again when it is normalised, with the batch's `sentAt` in between.
 */
let lastText = '';
let lastValue: number | null = null;
let previousText = '';
let previousValue: number | null = null;

/** Parses an ISO 8601 timestamp to ms since the epoch; null when it is not one (or no such day). */
export function parseTimestamp(s: string): number | null {
  if (s === lastText) return lastValue;
  if (s === previousText) return previousValue;
  const value = parseIso(s);
  previousText = lastText;
  previousValue = lastValue;
  lastText = s;
  lastValue = value;
  return value;
}

/** Positions of the digits in `YYYY-MM-DDTHH:MM:SS.sssZ`. */
const CANONICAL_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ` (what Segment's libraries and `toISOString` send) read digit by digit,
 * without a regular expression or `Date.parse`; NaN for anything else, which takes the general path.
 */
function parseCanonical(s: string): number {
  if (s.length !== 24 || s.charCodeAt(23) !== 90 || s.charCodeAt(10) !== 84) return Number.NaN;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(19) !== 46) return Number.NaN;
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return Number.NaN;
  for (const i of CANONICAL_DIGITS) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return Number.NaN;
  }
  const y = digitsAt(s, 0, 4);
  const m = digitsAt(s, 5, 2);
  const d = digitsAt(s, 8, 2);
  const hh = digitsAt(s, 11, 2);
  const mm = digitsAt(s, 14, 2);
  const ss = digitsAt(s, 17, 2);
  // Years before 100 (Date.UTC reads them as 19xx) and anything out of range: the general path.
  if (y < 100 || m < 1 || m > 12 || d < 1 || d > DAYS_IN_MONTH[m - 1]! || hh > 23 || mm > 59 || ss > 59)
    return Number.NaN;
  if (m === 2 && d === 29 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) return Number.NaN;
  return Date.UTC(y, m - 1, d, hh, mm, ss, digitsAt(s, 20, 3));
}

/** The number written by `len` digits of `s` from `i` (checked to be digits by the caller). */
function digitsAt(s: string, i: number, len: number): number {
  let v = 0;
  for (let k = i; k < i + len; k++) v = v * 10 + s.charCodeAt(k) - 48;
  return v;
}

function parseIso(s: string): number | null {
  const canonical = parseCanonical(s);
  if (!Number.isNaN(canonical)) return canonical;
  if (!ISO_8601.test(s)) return null;
  const ms = Date.parse(s);
  if (!Number.isFinite(ms)) return null;
  // Date.parse rolls 2024-02-30 over to March; a day that does not exist is an error here.
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d ? ms : null;
}

function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

/** A TypeBox error as a short phrase that follows the field's path. */
export function describeError(e: ValueError): string {
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.Object:
      return 'must be an object';
    case ValueErrorType.String:
      return 'must be a string';
    case ValueErrorType.StringMinLength:
      return 'must not be empty';
    case ValueErrorType.StringMaxLength:
      return `is longer than ${(e.schema as { maxLength?: number }).maxLength} characters`;
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify((e.schema as { const?: unknown }).const)}`;
    case ValueErrorType.Union:
      return typeof e.value === 'string' ? 'is longer than 1024 characters' : 'must be a string or a number';
    default:
      return e.message.charAt(0).toLowerCase() + e.message.slice(1);
  }
}

/** Walks the message once: enforces the nesting limit and refuses `__proto__` keys. */
function checkShape(value: unknown, maxDepth: number, path: string, depth: number, out: FieldError[]): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth > maxDepth) {
    out.push({ path, message: `is nested deeper than ${maxDepth} levels` });
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && out.length === 0; i++) {
      checkShape(value[i], maxDepth, `${path}[${i}]`, depth + 1, out);
    }
    return;
  }
  for (const key in value) {
    if (key === '__proto__') {
      out.push({ path: path ? `${path}.${key}` : key, message: 'is not an allowed key' });
      return;
    }
    checkShape((value as JsonObject)[key], maxDepth, path ? `${path}.${key}` : key, depth + 1, out);
    if (out.length > 0) return;
  }
}

const ID_FIELDS = ['userId', 'anonymousId', 'previousId', 'groupId', 'messageId', 'event', 'name'] as const;

/**
 * Checks the parts of a batch request that are merged into every message (`context`,
 * `integrations`) and its `sentAt`, with the same rules as a message.
 */
export function validateEnvelope(envelope: JsonObject, limits: Limits = DEFAULT_LIMITS): FieldError[] {
  const errors: FieldError[] = [];
  if (typeof envelope.sentAt === 'string' && parseTimestamp(envelope.sentAt) === null) {
    errors.push({
      path: 'sentAt',
      message: `is not an ISO 8601 date-time: ${JSON.stringify(envelope.sentAt.slice(0, 40))}`,
    });
  }
  for (const field of ['context', 'integrations'] as const) {
    if (envelope[field] !== undefined) checkShape(envelope[field], limits.maxDepth, field, 1, errors);
  }
  return errors;
}

const hasIdentity = (v: unknown): boolean => (typeof v === 'string' && v !== '') || typeof v === 'number';

/**
 * Validates one Segment message of the given type. Returns the problems found (empty when valid)
 * and the byte size of its JSON, which the caller reuses.
 */
export function validateMessage(
  message: unknown,
  type: EventType,
  limits: Limits = DEFAULT_LIMITS,
): FieldError[] {
  const errors: FieldError[] = [];
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return [{ path: '', message: 'must be a JSON object' }];
  }
  const check = CHECKS[type];
  if (!check.Check(message)) {
    const seen = new Set<string>();
    for (const e of check.Errors(message)) {
      const path = pointerToPath(e.path);
      if (seen.has(path)) continue;
      seen.add(path);
      errors.push({ path, message: describeError(e) });
      if (errors.length >= 10) break;
    }
    return errors;
  }
  const m = message as JsonObject;
  if (type === 'alias') {
    if (!hasIdentity(m.previousId)) errors.push({ path: 'previousId', message: 'is required for alias' });
    if (!hasIdentity(m.userId)) errors.push({ path: 'userId', message: 'is required for alias' });
  } else if (!hasIdentity(m.userId) && !hasIdentity(m.anonymousId)) {
    errors.push({ path: 'userId', message: 'userId or anonymousId is required' });
  }
  if (type === 'group' && !hasIdentity(m.groupId))
    errors.push({ path: 'groupId', message: 'is required for group' });
  for (const field of ID_FIELDS) {
    const v = m[field];
    if (typeof v === 'string' && v.includes('\u0000')) {
      errors.push({ path: field, message: 'must not contain the NUL character' });
    }
  }
  for (const field of ['timestamp', 'sentAt', 'originalTimestamp'] as const) {
    const v = m[field];
    if (typeof v === 'string' && parseTimestamp(v) === null) {
      errors.push({
        path: field,
        message: `is not an ISO 8601 date-time: ${JSON.stringify(v.slice(0, 40))}`,
      });
    }
  }
  if (errors.length === 0) checkShape(message, limits.maxDepth, '', 0, errors);
  return errors;
}

export const isEventType = (t: unknown): t is EventType =>
  typeof t === 'string' && (EVENT_TYPES as readonly string[]).includes(t);
