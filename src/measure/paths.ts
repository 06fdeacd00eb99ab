/**
 * Paths: what profiles do after (or before) an event. For each profile, the first event matching
 * the anchor, then the next (or previous) N events of the profile, in time order, inside an
 * optional window; the most common sequences, the drop-off after each step, and nodes and links
 * with counts for a Sankey chart. Pure: runs on an {@link EventTable}.
 */

import type { Checked, DefinitionError, EventMatcher } from '../segments/definition.ts';
import {
  checkDuration,
  checkEventStep,
  checkInteger,
  checkTime,
  compileStep,
  isObject,
  pathsOf,
  rowMatches,
} from './event-step.ts';
import type { EventTable } from './event-table.ts';

export const MAX_PATH_STEPS = 10;
/** The node that stands for the events left out of a step's top events. */
export const OTHER_EVENTS = '(other)';

export interface PathsDefinition {
  readonly anchor: EventMatcher;
  /** `from`: the events after the anchor; `to`: the events before it. */
  readonly direction: 'from' | 'to';
  /** Events followed from the anchor, 1 to 10. */
  readonly steps: number;
  /** Only events at most this long from the anchor; `null`: no limit. */
  readonly windowMs: number | null;
  /** A run of the same event counts as one step (default true). */
  readonly collapseRepeats: boolean;
  /** Event names never counted as a step. */
  readonly exclude: readonly string[];
  /** How many of the most common paths to list (default 20). */
  readonly topPaths: number;
  /** Events per step shown as their own node; the rest are one `(other)` node (default 10). */
  readonly nodesPerStep: number;
  /** Only anchors at or after / before these times (ms). */
  readonly since: number | null;
  readonly until: number | null;
}

export const pathsQueryPaths = (def: PathsDefinition) => pathsOf([def.anchor]);

/**
 * Checks a paths request body: `{"from": {"event", "where"?}}` or `{"to": {…}}`, with `steps`
 * (default 5), `window`, `collapseRepeats`, `exclude`, `topPaths`, `nodesPerStep`, `since`, `until`.
 */
export function checkPaths(body: unknown): Checked<PathsDefinition> {
  if (!isObject(body))
    return {
      ok: false,
      errors: [
        {
          path: '',
          message: 'must be a JSON object with "from" or "to", e.g. {"from": {"event": "Product Viewed"}}',
        },
      ],
    };
  const allowed = [
    'from',
    'to',
    'steps',
    'window',
    'collapseRepeats',
    'exclude',
    'topPaths',
    'nodesPerStep',
    'since',
    'until',
  ];
  const errors: DefinitionError[] = [];
  for (const k of Object.keys(body))
    if (!allowed.includes(k))
      errors.push({ path: k, message: `is not an allowed key (allowed: ${allowed.join(', ')})` });
  const hasFrom = body.from !== undefined;
  const hasTo = body.to !== undefined;
  let anchor: EventMatcher | null = null;
  if (hasFrom === hasTo)
    errors.push({
      path: hasFrom ? 'to' : 'from',
      message: 'give exactly one of "from" (paths after an event) or "to" (paths before it)',
    });
  else {
    const key = hasFrom ? 'from' : 'to';
    const c = checkEventStep(body[key], key);
    if (c.ok) anchor = c.value;
    else errors.push(...c.errors);
  }
  const steps = checkInteger(body.steps, 'steps', 1, MAX_PATH_STEPS, 5, errors);
  const windowMs = checkDuration(body.window, 'window', null, errors);
  let collapseRepeats = true;
  if (body.collapseRepeats !== undefined) {
    if (typeof body.collapseRepeats !== 'boolean')
      errors.push({ path: 'collapseRepeats', message: 'must be true or false' });
    else collapseRepeats = body.collapseRepeats;
  }
  const exclude: string[] = [];
  if (body.exclude !== undefined) {
    if (!Array.isArray(body.exclude) || body.exclude.some((e) => typeof e !== 'string' || e === ''))
      errors.push({ path: 'exclude', message: 'must be an array of event names' });
    else exclude.push(...(body.exclude as string[]));
  }
  const topPaths = checkInteger(body.topPaths, 'topPaths', 1, 1000, 20, errors);
  const nodesPerStep = checkInteger(body.nodesPerStep, 'nodesPerStep', 1, 100, 10, errors);
  const since = checkTime(body.since, 'since', errors);
  const until = checkTime(body.until, 'until', errors);
  if (errors.length > 0 || anchor === null) return { ok: false, errors };
  return {
    ok: true,
    value: {
      anchor,
      direction: hasFrom ? 'from' : 'to',
      steps,
      windowMs,
      collapseRepeats,
      exclude,
      topPaths,
      nodesPerStep,
      since,
      until,
    },
  };
}

/** A node of the Sankey chart: one event at one step. Step 0 is the anchor. */
export interface PathNode {
  /** `"{step}:{event}"`. */
  readonly id: string;
  /** 0 for the anchor; 1…N after it (`from`), −N…−1 before it (`to`). */
  readonly step: number;
  readonly event: string;
  /** Profiles whose path passes here. */
  readonly count: number;
  /** Profiles whose path stops here: no further event (in the step direction). */
  readonly dropOff: number;
}

/** A link of the Sankey chart, always from the earlier step to the later one. */
export interface PathLink {
  readonly source: string;
  readonly target: string;
  readonly count: number;
}

export interface PathsResult {
  readonly direction: 'from' | 'to';
  readonly anchor: string;
  /** Profiles with an anchor event. */
  readonly profiles: number;
  /** The most common sequences, in time order (they include the anchor), most common first. */
  readonly paths: { readonly events: string[]; readonly count: number; readonly share: number }[];
  /** Distinct sequences found (the list above is the top of them). */
  readonly distinctPaths: number;
  /** For each step away from the anchor (1…N), the profiles whose path ends before reaching it. */
  readonly dropOffs: { readonly step: number; readonly reached: number; readonly dropped: number }[];
  readonly nodes: PathNode[];
  readonly links: PathLink[];
}

/** Runs a paths query over a table built with (at least) the columns of {@link pathsQueryPaths}. */
export function paths(table: EventTable, def: PathsDefinition): PathsResult {
  const N = def.steps;
  const anchor = compileStep(table, def.anchor);
  const { name, ts, offsets } = table;
  const names = table.names;
  const excluded = new Uint8Array(names.length);
  for (const e of def.exclude) {
    const id = names.indexOf(e);
    if (id >= 0) excluded[id] = 1;
  }
  const since = def.since ?? Number.NEGATIVE_INFINITY;
  const until = def.until ?? Number.POSITIVE_INFINITY;
  const windowMs = def.windowMs ?? Number.POSITIVE_INFINITY;
  const forward = def.direction === 'from';

  // Steps of each profile's path as name ids: seq[p * N + k] for k < len[p].
  const profiles = table.profileIds.length;
  const seq = new Int32Array(Math.max(1, profiles * N));
  const lengths = new Int8Array(profiles);
  const withAnchor: number[] = [];
  for (let p = 0; p < profiles; p++) {
    const a = offsets[p]!;
    const b = offsets[p + 1]!;
    let at = -1;
    if (anchor.nameId >= 0)
      for (let i = a; i < b; i++) {
        const t = ts[i]!;
        if (t >= since && t < until && rowMatches(anchor, name, i)) {
          at = i;
          break;
        }
      }
    if (at < 0) continue;
    withAnchor.push(p);
    const t0 = ts[at]!;
    let last = name[at]!;
    let len = 0;
    const base = p * N;
    if (forward) {
      for (let i = at + 1; i < b && len < N; i++) {
        if (ts[i]! - t0 > windowMs) break;
        const nm = name[i]!;
        if (nm < 0 || excluded[nm] === 1 || (def.collapseRepeats && nm === last)) continue;
        seq[base + len++] = nm;
        last = nm;
      }
    } else {
      for (let i = at - 1; i >= a && len < N; i--) {
        if (t0 - ts[i]! > windowMs) break;
        const nm = name[i]!;
        if (nm < 0 || excluded[nm] === 1 || (def.collapseRepeats && nm === last)) continue;
        seq[base + len++] = nm;
        last = nm;
      }
    }
    lengths[p] = len;
  }

  // Top events per step; the others become one node.
  const V = names.length;
  const other = V; // the id of "(other)"
  const stepCounts = new Int32Array((N + 1) * (V + 1));
  for (const p of withAnchor)
    for (let k = 0; k < lengths[p]!; k++) stepCounts[(k + 1) * (V + 1) + seq[p * N + k]!]!++;
  const mapped = new Int32Array((N + 1) * (V + 1)).fill(-1);
  for (let k = 1; k <= N; k++) {
    const ids: number[] = [];
    for (let v = 0; v < V; v++) if (stepCounts[k * (V + 1) + v]! > 0) ids.push(v);
    ids.sort(
      (x, y) =>
        stepCounts[k * (V + 1) + y]! - stepCounts[k * (V + 1) + x]! || (names[x]! < names[y]! ? -1 : 1),
    );
    for (const [r, v] of ids.entries()) mapped[k * (V + 1) + v] = r < def.nodesPerStep ? v : other;
  }

  // Nodes, links and whole paths, counted on the mapped ids.
  const nodeCounts = new Map<number, number>(); // key: step * (V + 1) + id
  const nodeDrops = new Map<number, number>();
  const linkCounts = new Map<number, number>(); // key: (step * (V + 1) + from) * (V + 1) + to
  const pathCounts = new Map<string, number>();
  const reached = new Int32Array(N + 1);
  const anchorId = anchor.nameId;
  const bump = (m: Map<number, number>, key: number) => m.set(key, (m.get(key) ?? 0) + 1);
  for (const p of withAnchor) {
    const len = lengths[p]!;
    let prev = anchorId;
    bump(nodeCounts, anchorId);
    let key = '';
    for (let k = 1; k <= len; k++) {
      const id = mapped[k * (V + 1) + seq[p * N + k - 1]!]!;
      bump(nodeCounts, k * (V + 1) + id);
      bump(linkCounts, ((k - 1) * (V + 1) + prev) * (V + 1) + id);
      reached[k]!++;
      key += `${id},`;
      prev = id;
    }
    bump(nodeDrops, len * (V + 1) + prev);
    pathCounts.set(key, (pathCounts.get(key) ?? 0) + 1);
  }

  const label = (id: number) => (id === other ? OTHER_EVENTS : names[id]!);
  const stepNo = (k: number) => (forward ? k : -k);
  const nodeId = (k: number, id: number) => `${stepNo(k)}:${label(id)}`;
  const nodes: PathNode[] = [...nodeCounts.entries()]
    .map(([key, count]) => {
      const k = Math.floor(key / (V + 1));
      const id = key % (V + 1);
      return {
        id: nodeId(k, id),
        step: stepNo(k),
        event: label(id),
        count,
        dropOff: nodeDrops.get(key) ?? 0,
      };
    })
    .sort(
      (x, y) => (forward ? x.step - y.step : y.step - x.step) || y.count - x.count || (x.id < y.id ? -1 : 1),
    );
  const links: PathLink[] = [...linkCounts.entries()]
    .map(([key, count]) => {
      const to = key % (V + 1);
      const rest = Math.floor(key / (V + 1));
      const from = rest % (V + 1);
      const k = Math.floor(rest / (V + 1));
      const a = nodeId(k, from);
      const b = nodeId(k + 1, to);
      return forward ? { source: a, target: b, count } : { source: b, target: a, count };
    })
    .sort(
      (x, y) =>
        y.count - x.count ||
        (x.source < y.source ? -1 : x.source > y.source ? 1 : x.target < y.target ? -1 : 1),
    );
  const total = withAnchor.length;
  const anchorName = def.anchor.event;
  const top = [...pathCounts.entries()]
    .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
    .slice(0, def.topPaths)
    .map(([key, count]) => {
      const steps =
        key === ''
          ? []
          : key
              .slice(0, -1)
              .split(',')
              .map((s) => label(Number(s)));
      const events = forward ? [anchorName, ...steps] : [...steps.reverse(), anchorName];
      return { events, count, share: count / total };
    });
  const dropOffs = [];
  for (let k = 1; k <= N; k++)
    dropOffs.push({
      step: stepNo(k),
      reached: reached[k]!,
      dropped: (k === 1 ? total : reached[k - 1]!) - reached[k]!,
    });

  return {
    direction: def.direction,
    anchor: anchorName,
    profiles: total,
    paths: top,
    distinctPaths: pathCounts.size,
    dropOffs,
    nodes,
    links,
  };
}
