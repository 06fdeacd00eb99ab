import type { EventType, JsonObject, NormalizedEvent } from '../../core/event.ts';
import type { SourceId, WorkspaceId } from '../../core/ids.ts';

/**
 * Events on their way to the writer thread, as arrays in a fixed field order. Copying an object
 * between threads writes and reads every key by name; an array carries only the values, which
 * halves the copy on both sides of the hand-over (the writer's side is the busier one).
 */
export type WireEvent = [
  workspaceId: string,
  sourceId: string,
  messageId: string,
  type: EventType,
  name: string | null,
  userId: string | null,
  anonymousId: string | null,
  previousId: string | null,
  groupId: string | null,
  /** Null for the types that carry none (everything but identify and group). */
  traits: JsonObject | null,
  timestamp: number,
  receivedAt: number,
  bodyJson: string,
  consent: JsonObject | null,
];

const NO_TRAITS: JsonObject = Object.freeze({});

export function toWire(groups: readonly (readonly NormalizedEvent[])[]): WireEvent[][] {
  return groups.map((g) =>
    g.map(
      (e): WireEvent => [
        e.workspaceId,
        e.sourceId,
        e.messageId,
        e.type,
        e.name,
        e.userId,
        e.anonymousId,
        e.previousId,
        e.groupId,
        e.type === 'identify' || e.type === 'group' ? e.traits : null,
        e.timestamp,
        e.receivedAt,
        e.bodyJson,
        e.consent,
      ],
    ),
  );
}

export function fromWire(groups: readonly (readonly WireEvent[])[]): NormalizedEvent[][] {
  return groups.map((g) =>
    g.map(
      (w): NormalizedEvent => ({
        workspaceId: w[0] as WorkspaceId,
        sourceId: w[1] as SourceId,
        messageId: w[2],
        type: w[3],
        name: w[4],
        userId: w[5],
        anonymousId: w[6],
        previousId: w[7],
        groupId: w[8],
        traits: w[9] ?? NO_TRAITS,
        timestamp: w[10],
        receivedAt: w[11],
        bodyJson: w[12],
        consent: w[13],
      }),
    ),
  );
}
