/** Row shapes shared by the journey store adapters. */
import type { JsonObject } from '../../core/event.ts';
import type { RunState, RunStatus } from '../step.ts';
import type { EntryRecord, OutboxKind, OutboxRow, OutboxStatus } from './port.ts';

export interface RunRow {
  id: string;
  journey: string;
  version: number | string;
  profile_id: string;
  status: string;
  node: string | null;
  wake_at: number | string | null;
  started_at: number | string;
  updated_at: number | string;
  state: string;
}

/** The parts of a run kept as JSON: what it carries, not what is searched on. */
export function runStateJson(r: RunState): string {
  return JSON.stringify({ t: r.trigger, s: r.steps, a: r.arrivals, v: r.variants, r: r.reason });
}

export function toRun(row: RunRow): RunState {
  const s = JSON.parse(row.state) as {
    t: RunState['trigger'];
    s: number;
    a: RunState['arrivals'];
    v: RunState['variants'];
    r: string | null;
  };
  return {
    id: row.id,
    journey: row.journey,
    version: Number(row.version),
    profileId: row.profile_id,
    status: row.status as RunStatus,
    node: row.node,
    wakeAt: row.wake_at === null ? null : Number(row.wake_at),
    startedAt: Number(row.started_at),
    updatedAt: Number(row.updated_at),
    trigger: s.t,
    steps: s.s,
    arrivals: s.a,
    variants: s.v,
    reason: s.r,
  };
}

export interface EntryRow {
  journey: string;
  profile_id: string;
  grp: string;
  entries: number | string;
  first_at: number | string;
  last_at: number | string;
}

export const toEntry = (r: EntryRow): EntryRecord => ({
  journey: r.journey,
  profileId: r.profile_id,
  group: r.grp === 'control' ? 'control' : 'treatment',
  entries: Number(r.entries),
  firstAt: Number(r.first_at),
  lastAt: Number(r.last_at),
});

export interface OutboxDbRow {
  id: string;
  run_id: string | null;
  journey: string | null;
  profile_id: string;
  kind: string;
  payload: string;
  status: string;
  due_at: number | string;
  attempts: number | string;
  detail: string | null;
  created_at: number | string;
}

export const toOutbox = (r: OutboxDbRow): OutboxRow => ({
  id: r.id,
  runId: r.run_id,
  journey: r.journey,
  profileId: r.profile_id,
  kind: r.kind as OutboxKind,
  payload: JSON.parse(r.payload) as JsonObject,
  status: r.status as OutboxStatus,
  dueAt: Number(r.due_at),
  attempts: Number(r.attempts),
  detail: r.detail,
  createdAt: Number(r.created_at),
});

/** Counter deltas summed per (journey, node, metric), zero sums dropped. */
export function sumStats(
  stats: readonly { journey: string; node: string | null; metric: string; n: number }[],
): { journey: string; node: string; metric: string; n: number }[] {
  const m = new Map<string, { journey: string; node: string; metric: string; n: number }>();
  for (const s of stats) {
    const node = s.node ?? '';
    const k = `${s.journey}\u0000${node}\u0000${s.metric}`;
    const cur = m.get(k);
    if (cur) cur.n += s.n;
    else m.set(k, { journey: s.journey, node, metric: s.metric, n: s.n });
  }
  return [...m.values()].filter((s) => s.n !== 0);
}

/** Runs are live while active or scheduled; the store indexes only those by profile and timer. */
export const LIVE = ['active', 'scheduled'] as const;
