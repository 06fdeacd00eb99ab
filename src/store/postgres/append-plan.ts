import type { NormalizedEvent } from '../../core/event.ts';
import type { WorkspaceId } from '../../core/ids.ts';
import type { Identifier } from '../../core/profile.ts';
import type { IdentityConfig } from '../port.ts';
import { int8Array, textArray } from './binary-arrays.ts';

export const ownerKey = (ws: string, kind: string, value: string): string =>
  `${ws}\u0000${kind}\u0000${value}`;
export const messageKey = (source: string, messageId: string): string => `${source}\u0000${messageId}`;
export const groupKey = (ws: string, groupId: string): string => `${ws}\u0000${groupId}`;

/** The same normalisation `applyEvents` uses for identifier traits; only used to prefetch. */
const identifierTraitValue = (kind: string, v: unknown): string | null => {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  const s = String(v).trim();
  if (s === '') return null;
  return kind === 'email' ? s.toLowerCase() : s;
};

/** An identifier an event refers to, and the part of the commit that refers to it first. */
export interface WantedIdentifier {
  readonly id: Identifier;
  readonly part: number;
}

/** What one workspace's events refer to. */
interface WorkspaceWants {
  readonly ids: Map<string, WantedIdentifier>;
  readonly groups: Set<string>;
  /** Keys whose owners' traits and consent the events read or write. */
  readonly rich: Set<string>;
}

/**
 * Everything a group commit refers to, gathered from the events alone (no database access), so it
 * can be worked out before the transaction starts.
 */
export interface AppendPlan {
  /**
   * The commit's events in consecutive parts, in order: the owners of the identifiers each part
   * refers to first are looked up in a statement of their own, so that applying the first parts
   * overlaps with looking up the later ones.
   */
  readonly parts: number;
  readonly workspaces: Map<WorkspaceId, WorkspaceWants>;
  /** The commit's distinct (source, message id) pairs, to look up which are stored. */
  readonly sources: string[];
  readonly messageIds: string[];
  /** The identifier keys of each event that names more than one, with the event's part. */
  readonly linked: { readonly part: number; readonly keys: string[] }[];
  /**
   * The columns of every event, in order, encoded for `insertEvents` but for the profile id: used
   * when the commit stores every one of its events, as it nearly always does.
   */
  readonly eventColumns: { readonly count: number; readonly before: Buffer[]; readonly after: Buffer[] };
}

/** Events per part of a commit (see `AppendPlan.parts`), and most parts. */
const PART_EVENTS = 400;
const MAX_PARTS = 8;

/** Reads a group commit's events for what `PgAppend.begin` must look up. */
export function planAppend(
  batches: readonly (readonly NormalizedEvent[])[],
  identity: (ws: WorkspaceId) => IdentityConfig,
): AppendPlan {
  const workspaces = new Map<WorkspaceId, WorkspaceWants>();
  const sources: string[] = [];
  const messageIds: string[] = [];
  const seenMessages = new Set<string>();
  const linked: { part: number; keys: string[] }[] = [];
  const total = batches.reduce((n, b) => n + b.length, 0);
  const parts = Math.min(MAX_PARTS, Math.ceil(total / PART_EVENTS));
  let n = 0;
  for (const batch of batches) {
    for (const ev of batch) {
      const part = Math.floor((n++ * parts) / total);
      let ws = workspaces.get(ev.workspaceId);
      if (ws === undefined) {
        ws = { ids: new Map(), groups: new Set(), rich: new Set() };
        workspaces.set(ev.workspaceId, ws);
      }
      // Events that read or write traits: prefetch their profiles' traits too.
      const rich = ev.type === 'identify' || ev.type === 'alias' || ev.consent !== null;
      const keys: string[] = [];
      const add = (kind: string, value: string | null) => {
        if (value === null) return;
        const key = ownerKey(ev.workspaceId, kind, value);
        if (!ws.ids.has(key)) ws.ids.set(key, { id: { kind, value }, part });
        if (rich) ws.rich.add(key);
        keys.push(key);
      };
      add('user_id', ev.userId);
      add('anonymous_id', ev.anonymousId);
      if (ev.type === 'alias') {
        add('user_id', ev.previousId);
        add('anonymous_id', ev.previousId);
      }
      if (ev.type === 'identify') {
        for (const kind of identity(ev.workspaceId).identifierTraits) {
          add(kind, identifierTraitValue(kind, ev.traits[kind]));
        }
      }
      if (keys.length > 1) linked.push({ part, keys });
      if (ev.type === 'group' && ev.groupId !== null) ws.groups.add(ev.groupId);
      const mk = messageKey(ev.sourceId, ev.messageId);
      if (!seenMessages.has(mk)) {
        seenMessages.add(mk);
        sources.push(ev.sourceId);
        messageIds.push(ev.messageId);
      }
    }
  }
  const all = batches.flat();
  const eventColumns = {
    count: all.length,
    before: [
      textArray(all.map((e) => e.workspaceId)),
      textArray(all.map((e) => e.sourceId)),
      textArray(all.map((e) => e.messageId)),
    ],
    after: [
      textArray(all.map((e) => e.type)),
      textArray(all.map((e) => e.name)),
      int8Array(all.map((e) => e.timestamp)),
      int8Array(all.map((e) => e.receivedAt)),
      textArray(all.map((e) => e.bodyJson)),
    ],
  };
  return { parts, workspaces, sources, messageIds, linked, eventColumns };
}
