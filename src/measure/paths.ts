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

  // The top events of each step keep their own node; the rest share one "(other)" node. Each
  // step's nodes are numbered by rank: rank r < kept[k].length is kept[k][r], the next is other.
  const V = names.length;
  const S = def.nodesPerStep + 1;
  const stepCounts = new Int32Array((N + 1) * V);
  for (const p of withAnchor)
    for (let k = 0; k < lengths[p]!; k++) stepCounts[(k + 1) * V + seq[p * N + k]!]!++;
  const rank = new Int32Array((N + 1) * V);
  const kept: number[][] = [[anchor.nameId]];
  for (let k = 1; k <= N; k++) {
    const ids: number[] = [];
    for (let v = 0; v < V; v++) if (stepCounts[k * V + v]! > 0) ids.push(v);
    ids.sort((x, y) => stepCounts[k * V + y]! - stepCounts[k * V + x]! || (names[x]! < names[y]! ? -1 : 1));
    const top = ids.slice(0, def.nodesPerStep);
    kept.push(top);
    for (const [r, v] of ids.entries()) rank[k * V + v] = Math.min(r, top.length);
  }

  // Nodes, links and whole paths, counted on ranks in dense arrays. A path's key is its ranks
  // (+1) as digits of base S + 1, a number while that fits in 53 bits, else text.
  const nodeCounts = new Int32Array((N + 1) * S);
  const nodeDrops = new Int32Array((N + 1) * S);
  const linkCounts = new Int32Array(Math.max(1, N * S * S));
  const base = S + 1;
  const numericKeys = base ** N < 2 ** 53;
  const pathCounts = new Map<number | string, number>();
  const reached = new Int32Array(N + 1);
  for (const p of withAnchor) {
    const len = lengths[p]!;
    let prev = 0;
    nodeCounts[0]!++;
    let key = 0;
    let text = '';
    let digit = 1;
    for (let k = 1; k <= len; k++) {
      const r = rank[k * V + seq[p * N + k - 1]!]!;
      nodeCounts[k * S + r]!++;
      linkCounts[((k - 1) * S + prev) * S + r]!++;
      reached[k]!++;
      if (numericKeys) {
        key += (r + 1) * digit;
        digit *= base;
      } else text += `${r},`;
      prev = r;
    }
    nodeDrops[len * S + prev]!++;
    const k = numericKeys ? key : text;
    pathCounts.set(k, (pathCounts.get(k) ?? 0) + 1);
  }
  const ranksOf = (key: number | string): number[] => {
    if (typeof key === 'string') return key === '' ? [] : key.slice(0, -1).split(',').map(Number);
    const out: number[] = [];
    for (let x = key; x > 0; x = Math.floor(x / base)) out.push((x % base) - 1);
    return out;
  };

  const label = (k: number, r: number) => {
    const list = kept[k]!;
    return r < list.length ? names[list[r]!]! : OTHER_EVENTS;
  };
  const stepNo = (k: number) => (forward ? k : -k);
  const nodeId = (k: number, r: number) => `${stepNo(k)}:${label(k, r)}`;
  const nodes: PathNode[] = [];
  for (let k = 0; k <= N; k++)
    for (let r = 0; r < S; r++) {
      const count = nodeCounts[k * S + r]!;
      if (count > 0)
        nodes.push({
          id: nodeId(k, r),
          step: stepNo(k),
          event: label(k, r),
          count,
          dropOff: nodeDrops[k * S + r]!,
        });
    }
  nodes.sort(
    (x, y) => (forward ? x.step - y.step : y.step - x.step) || y.count - x.count || (x.id < y.id ? -1 : 1),
  );
  const links: PathLink[] = [];
  for (let k = 1; k <= N; k++)
    for (let a = 0; a < S; a++)
      for (let b = 0; b < S; b++) {
        const count = linkCounts[((k - 1) * S + a) * S + b]!;
        if (count === 0) continue;
        const from = nodeId(k - 1, a);
        const to = nodeId(k, b);
        links.push(forward ? { source: from, target: to, count } : { source: to, target: from, count });
      }
  links.sort(
    (x, y) =>
      y.count - x.count ||
      (x.source < y.source ? -1 : x.source > y.source ? 1 : x.target < y.target ? -1 : 1),
  );
  const total = withAnchor.length;
  const anchorName = def.anchor.event;
  const top = [...pathCounts.entries()]
    .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
    .slice(0, def.topPaths)
    .map(([key, count]) => {
      const steps = ranksOf(key).map((r, i) => label(i + 1, r));
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
