import type { EventType, JsonObject, StoredEvent } from '../core/event.ts';
import { asProfileId, asSourceId, type ProfileId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import type { VersionedTraits } from '../core/traits.ts';
import type { EventPage, TimelineCursor } from './port.ts';

/** Row shapes shared by the SQL adapters, and their mapping to domain objects. */
export interface ProfileRow {
  id: string;
  traits: string | JsonObject;
  consent: string | JsonObject;
  created_at: number | string;
  updated_at: number | string;
}
export interface IdentifierRow {
  kind: string;
  value: string;
}
export interface EventRow {
  seq: number | string;
  profile_id: string;
  source_id: string;
  message_id: string;
  type: string;
  name: string | null;
  ts: number | string;
  received_at: number | string;
  body: string | JsonObject;
}

const json = (v: string | JsonObject): JsonObject =>
  typeof v === 'string' ? (JSON.parse(v) as JsonObject) : v;
const iso = (ms: number | string): string => new Date(Number(ms)).toISOString();

export function toProfile(
  row: ProfileRow,
  identifiers: readonly IdentifierRow[],
  groups: readonly string[],
): Profile {
  const userIds: string[] = [];
  const anonymousIds: string[] = [];
  const others: Record<string, string[]> = {};
  for (const { kind, value } of identifiers) {
    if (kind === 'user_id') userIds.push(value);
    else if (kind === 'anonymous_id') anonymousIds.push(value);
    else {
      others[kind] ??= [];
      others[kind].push(value);
    }
  }
  return {
    id: asProfileId(row.id),
    userIds,
    anonymousIds,
    identifiers: others,
    traits: json(row.traits),
    computed: {},
    segments: [],
    consent: json(row.consent),
    groups: [...groups],
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    seq: Number(row.seq),
    profileId: asProfileId(row.profile_id),
    sourceId: asSourceId(row.source_id),
    messageId: row.message_id,
    type: row.type as EventType,
    name: row.name,
    timestamp: Number(row.ts),
    receivedAt: Number(row.received_at),
    body: json(row.body),
  };
}

export function toVersioned(values: string | JsonObject, versions: string | JsonObject): VersionedTraits {
  return { values: json(values), versions: json(versions) as VersionedTraits['versions'] };
}

/** A page of the timeline, newest first, with the cursor of its last event. */
export function toEventPage(rows: readonly EventRow[], limit: number): EventPage {
  const events = rows.slice(0, limit).map(toStoredEvent);
  const last = events.at(-1);
  return {
    events,
    cursor: rows.length > limit && last ? encodeCursor({ ts: last.timestamp, seq: last.seq }) : null,
  };
}

export const encodeCursor = (c: TimelineCursor): string => `${c.ts}.${c.seq}`;

/** Reads `before`: a cursor from a previous page, or an ISO 8601 time. Null when it is neither. */
export function parseCursor(s: string): TimelineCursor | null {
  const m = /^(\d+)\.(\d+)$/.exec(s);
  if (m) return { ts: Number(m[1]), seq: Number(m[2]) };
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? { ts: ms, seq: 0 } : null;
}

export const profileIdOf = (s: string): ProfileId => asProfileId(s);
