/**
 * Breakdowns of the experiment report by a property of the assignment event (the message, the
 * channel, the segment a journey recorded) or of the conversion event (the category bought): the
 * report's arms, lift and sample-ratio check, once per value.
 *
 * - By an assignment property, the population splits: each profile belongs to the group of the
 *   value on its first assignment, and each group is a report of its own.
 * - By a conversion property, the outcome splits: every group keeps the whole arms as
 *   denominators and counts only the conversions whose event carries the group's value.
 */

import { propertyPath } from '../segments/definition.ts';
import { readPath } from '../segments/values.ts';
import {
  type ArmReport,
  type Assignment,
  buildExperimentReport,
  type Conversion,
  type ExperimentReportOptions,
  type SampleRatioCheck,
} from './experiment-report.ts';

export interface BreakdownOptions {
  /** A dotted property path, as in segment filters (`message`, `context.channel`). */
  readonly property: string;
  readonly source: 'assignment' | 'conversion';
  /** At most this many groups, the largest; default 50. */
  readonly limit?: number;
}

export interface BreakdownGroup {
  /** The property's value; `null` when the event does not have it. */
  readonly value: unknown;
  /** Profiles in the group (assignment source) or converted profiles (conversion source). */
  readonly size: number;
  readonly arms: ArmReport[];
  readonly srm: SampleRatioCheck | null;
  readonly warnings: string[];
}

export interface ExperimentBreakdown {
  readonly property: string;
  readonly source: 'assignment' | 'conversion';
  readonly groups: BreakdownGroup[];
  /** Groups left out beyond the limit (the smallest). */
  readonly omittedGroups: number;
}

/**
 * Reads `breakdown=…` of the report route: `conversion.category` reads the conversion event,
 * `assignment.message` or a bare `message` the assignment event.
 */
export function parseBreakdown(text: string): BreakdownOptions {
  const t = text.trim();
  if (t.startsWith('conversion.')) return { property: t.slice('conversion.'.length), source: 'conversion' };
  if (t.startsWith('assignment.')) return { property: t.slice('assignment.'.length), source: 'assignment' };
  return { property: t, source: 'assignment' };
}

/** A Map key for a JSON value: missing and null are one group. */
function keyOf(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  return typeof v === 'object' ? `\u0000${JSON.stringify(v)}` : v;
}

const order = (a: { key: unknown; size: number }, b: { key: unknown; size: number }) =>
  b.size - a.size || (String(a.key) < String(b.key) ? -1 : String(a.key) > String(b.key) ? 1 : 0);

/** The report once per value of the property; `arms` in each group are the experiment's every arm. */
export function buildExperimentBreakdown(
  assignments: readonly Assignment[],
  conversions: readonly Conversion[],
  options: ExperimentReportOptions,
  breakdown: BreakdownOptions,
): ExperimentBreakdown {
  const limit = breakdown.limit ?? 50;
  const parts = propertyPath(breakdown.property).parts;
  const overall = buildExperimentReport(assignments, conversions, options);
  const groupOptions: ExperimentReportOptions = {
    ...options,
    ...(overall.control !== null ? { control: overall.control } : {}),
    variations: overall.arms.map((a) => ({ variation: a.variation, variationName: a.variationName })),
  };
  const value = (body: Readonly<Record<string, unknown>> | undefined) =>
    body === undefined ? undefined : readPath(body, parts);

  const groups = new Map<
    unknown,
    { key: unknown; value: unknown; size: number; assignments: Assignment[]; conversions: Conversion[] }
  >();
  const group = (v: unknown) => {
    const key = keyOf(v);
    let g = groups.get(key);
    if (g === undefined) {
      g = { key, value: v ?? null, size: 0, assignments: [], conversions: [] };
      groups.set(key, g);
    }
    return g;
  };

  if (breakdown.source === 'assignment') {
    const first = new Map<string, Assignment>();
    for (const a of assignments) {
      if (a.experimentId !== options.experimentId) continue;
      const current = first.get(a.profileId);
      if (current === undefined || a.timestamp < current.timestamp) first.set(a.profileId, a);
    }
    const groupOfProfile = new Map<string, ReturnType<typeof group>>();
    for (const [profileId, a] of first) {
      const g = group(value(a.body));
      g.size++;
      groupOfProfile.set(profileId, g);
    }
    for (const a of assignments) groupOfProfile.get(a.profileId)?.assignments.push(a);
    for (const c of conversions) groupOfProfile.get(c.profileId)?.conversions.push(c);
  } else {
    const counted = new Map<unknown, Set<string>>();
    for (const c of conversions) {
      const g = group(value(c.body));
      g.conversions.push(c);
      let profiles = counted.get(g.key);
      if (profiles === undefined) {
        profiles = new Set();
        counted.set(g.key, profiles);
      }
      profiles.add(c.profileId);
    }
    for (const g of groups.values()) {
      g.assignments = assignments as Assignment[];
      g.size = counted.get(g.key)?.size ?? 0;
    }
  }

  const sorted = [...groups.values()].sort(order);
  const kept = sorted.slice(0, limit);
  return {
    property: breakdown.property,
    source: breakdown.source,
    groups: kept.map((g) => {
      const r = buildExperimentReport(g.assignments, g.conversions, groupOptions);
      return { value: g.value, size: g.size, arms: r.arms, srm: r.srm, warnings: r.warnings };
    }),
    omittedGroups: sorted.length - kept.length,
  };
}
