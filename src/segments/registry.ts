import type {
  ComputedTrait,
  Condition,
  DefinitionError,
  EventMatcher,
  PropertyPath,
  ValueTest,
} from './definition.ts';

/** A property filter compiled against its event's projection: the index of the value to test. */
export interface CompiledFilter {
  readonly index: number;
  readonly test: ValueTest;
}

export interface CompiledMatcher {
  readonly event: string;
  readonly where: readonly CompiledFilter[];
}

/** Which values of an event are kept, and for how long. */
export interface Projection {
  /**
   * The event name, one string shared by every fact the engine keeps under it: names arrive as a
   * fresh copy per event from the other thread, and keeping those would cost a string per fact.
   */
  readonly name: string;
  /** Property paths kept from each event with this name, by index. */
  readonly paths: readonly PropertyPath[];
  /** Events older than this (relative to now) can no longer change any result; Infinity = kept. */
  readonly horizonMs: number;
}

export interface CompiledSegment {
  readonly key: string;
  readonly condition: Condition;
  /** Position in dependency order: every segment it references comes earlier. */
  readonly order: number;
  /** Event names, trait names and computed traits it reads, through every segment it references. */
  readonly events: ReadonlySet<string>;
  readonly traits: ReadonlySet<string>;
  /** Its result can change with time alone (windows, dates, days since). */
  readonly timed: boolean;
  /** Every segment (`segments:key`) and computed trait (`computed:key`) it reads, directly or not. */
  readonly uses: ReadonlySet<string>;
  /**
   * Event names whose arrival can only turn the result from false to true ('up': "did X") or only
   * from true to false ('down': "did not X"). Lets the engine skip evaluations that cannot change
   * anything; names not listed may change it either way.
   */
  readonly monotone: ReadonlyMap<string, 'up' | 'down'>;
}

type Mono = 'up' | 'down' | 'none' | 'indep';

const flip = (m: Mono): Mono => (m === 'up' ? 'down' : m === 'down' ? 'up' : m);

function combine(ms: readonly Mono[]): Mono {
  let out: Mono = 'indep';
  for (const m of ms) {
    if (m === 'indep') continue;
    if (m === 'none') return 'none';
    if (out === 'indep') out = m;
    else if (out !== m) return 'none';
  }
  return out;
}

/** How adding one event named `name` can move a condition's result. */
function monotone(
  c: Condition,
  name: string,
  computed: ReadonlyMap<string, ComputedTrait>,
  segment: (key: string) => Mono,
): Mono {
  switch (c.kind) {
    case 'all':
    case 'any':
      return combine(c.of.map((x) => monotone(x, name, computed, segment)));
    case 'not':
      return flip(monotone(c.of, name, computed, segment));
    case 'trait':
      return 'indep';
    case 'segment':
      return segment(c.key);
    case 'event': {
      if (c.match.event !== name) return 'indep';
      const { op, value } = c.count;
      if (op === 'gte' || op === 'gt') return 'up';
      if (op === 'lt' || op === 'lte' || (op === 'eq' && value === 0)) return 'down';
      return 'none';
    }
    case 'sequence':
      return c.steps.some((s) => s.event === name) ? 'up' : 'indep';
    case 'computed': {
      const def = computed.get(c.key)!;
      if (def.match.event !== name) return 'indep';
      // More events only make a count grow. (Days since the last event is left out: a first event
      // starts a clock that can make the result change later, which skipping would miss.)
      if (def.aggregate !== 'count') return 'none';
      const op = c.test.op;
      return op === 'gt' || op === 'gte' ? 'up' : op === 'lt' || op === 'lte' ? 'down' : 'none';
    }
  }
}

export interface CompiledComputed {
  readonly key: string;
  readonly definition: ComputedTrait;
  readonly match: CompiledMatcher;
  readonly propertyIndex: number;
}

type Refs = {
  events: Set<string>;
  traits: Set<string>;
  segments: Set<string>;
  computed: Set<string>;
  timed: boolean;
};

/**
 * Where in a definition (under `prefix`) its first reference to a segment or computed trait
 * `key` is, so that an error about the reference names it: `segments.vip.all[1].segment`.
 */
function referencePath(prefix: string, c: Condition, kind: 'segment' | 'computed', key: string): string {
  const find = (c: Condition, path: string): string | null => {
    switch (c.kind) {
      case 'all':
      case 'any':
        for (const [i, x] of c.of.entries()) {
          const found = find(x, `${path}.${c.kind}[${i}]`);
          if (found !== null) return found;
        }
        return null;
      case 'not':
        return find(c.of, `${path}.not`);
      case 'segment':
      case 'computed':
        return c.kind === kind && c.key === key ? `${path}.${kind}` : null;
      default:
        return null;
    }
  };
  return find(c, prefix) ?? prefix;
}

function collect(c: Condition, refs: Refs): void {
  switch (c.kind) {
    case 'all':
    case 'any':
      for (const x of c.of) collect(x, refs);
      return;
    case 'not':
      collect(c.of, refs);
      return;
    case 'trait':
      refs.traits.add(c.trait);
      if (c.test.op === 'within_last' || c.test.op === 'not_within_last') refs.timed = true;
      return;
    case 'event':
      refs.events.add(c.match.event);
      if (c.withinMs !== null) refs.timed = true;
      return;
    case 'sequence':
      for (const s of c.steps) refs.events.add(s.event);
      if (c.withinMs !== null) refs.timed = true;
      return;
    case 'computed':
      refs.computed.add(c.key);
      if (c.test.op === 'within_last' || c.test.op === 'not_within_last') refs.timed = true;
      return;
    case 'segment':
      refs.segments.add(c.key);
      return;
  }
}

/** Every event matcher in a condition, with the window it is read through (null = all time). */
function* matchers(c: Condition): Generator<[EventMatcher, number | null]> {
  switch (c.kind) {
    case 'all':
    case 'any':
      for (const x of c.of) yield* matchers(x);
      return;
    case 'not':
      yield* matchers(c.of);
      return;
    case 'event':
      yield [c.match, c.withinMs];
      return;
    case 'sequence':
      for (const s of c.steps) yield [s, c.withinMs];
      return;
    default:
      return;
  }
}

const TIMED_AGGREGATES = new Set(['days_since_last']);

/**
 * A workspace's segments and computed traits, compiled together: references resolved, cycles
 * rejected, segments in dependency order, and the projection of each event name (the property
 * values kept per event, and how long events are kept).
 */
export class Registry {
  readonly segments: readonly CompiledSegment[];
  readonly segmentByKey: ReadonlyMap<string, CompiledSegment>;
  readonly computed: ReadonlyMap<string, CompiledComputed>;
  readonly projections: ReadonlyMap<string, Projection>;
  /** Trait names any definition reads. */
  readonly traitNames: ReadonlySet<string>;
  /** Segments to re-evaluate when an event with this name arrives, in dependency order. */
  readonly byEvent: ReadonlyMap<string, readonly CompiledSegment[]>;
  /** Segments that read traits, in dependency order. */
  readonly byTraits: readonly CompiledSegment[];
  /** Segments whose result can change with time alone, in dependency order. */
  readonly timed: readonly CompiledSegment[];

  private constructor(
    segments: CompiledSegment[],
    computed: Map<string, CompiledComputed>,
    projections: Map<string, Projection>,
  ) {
    this.segments = segments;
    this.segmentByKey = new Map(segments.map((s) => [s.key, s]));
    this.computed = computed;
    this.projections = projections;
    this.traitNames = new Set(segments.flatMap((s) => [...s.traits]));
    const byEvent = new Map<string, CompiledSegment[]>();
    for (const s of segments) {
      for (const e of s.events) {
        let list = byEvent.get(e);
        if (!list) {
          list = [];
          byEvent.set(e, list);
        }
        list.push(s);
      }
    }
    this.byEvent = byEvent;
    this.byTraits = segments.filter((s) => s.traits.size > 0);
    this.timed = segments.filter((s) => s.timed);
  }

  static readonly EMPTY: Registry = Registry.build(new Map(), new Map()) as Registry;

  /**
   * Compiles definitions already checked one by one. Errors name the segment or computed trait
   * (`segments.vip`, `computed.ltv`) and say which reference is missing or which keys form a cycle.
   */
  static build(
    segments: ReadonlyMap<string, Condition>,
    computed: ReadonlyMap<string, ComputedTrait>,
  ): Registry | DefinitionError[] {
    const errors: DefinitionError[] = [];
    const refs = new Map<string, Refs>();
    for (const [key, condition] of segments) {
      const r: Refs = {
        events: new Set(),
        traits: new Set(),
        segments: new Set(),
        computed: new Set(),
        timed: false,
      };
      collect(condition, r);
      refs.set(key, r);
      for (const s of r.segments) {
        if (!segments.has(s))
          errors.push({
            path: referencePath(`segments.${key}`, condition, 'segment', s),
            message: `refers to segment "${s}", which does not exist`,
          });
      }
      for (const c of r.computed) {
        if (!computed.has(c))
          errors.push({
            path: referencePath(`segments.${key}`, condition, 'computed', c),
            message: `refers to computed trait "${c}", which does not exist`,
          });
      }
    }
    if (errors.length > 0) return errors;

    // Dependency order (depth-first), rejecting cycles with the path that closes them.
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (key: string, trail: string[]): void => {
      const s = state.get(key);
      if (s === 'done') return;
      if (s === 'visiting') {
        const cycle = [...trail.slice(trail.indexOf(key)), key];
        errors.push({
          path: referencePath(`segments.${cycle[0]}`, segments.get(cycle[0]!)!, 'segment', cycle[1]!),
          message: `segments refer to each other in a cycle: ${cycle.join(' → ')}`,
        });
        return;
      }
      state.set(key, 'visiting');
      for (const dep of [...refs.get(key)!.segments].sort()) visit(dep, [...trail, key]);
      state.set(key, 'done');
      order.push(key);
    };
    for (const key of [...segments.keys()].sort()) visit(key, []);
    if (errors.length > 0) return errors;

    // Projections: every property path read per event name, and the longest window it is read through.
    const paths = new Map<string, Map<string, PropertyPath>>();
    const horizon = new Map<string, number>();
    const need = (m: EventMatcher, windowMs: number | null, extra: PropertyPath | null) => {
      let p = paths.get(m.event);
      if (!p) {
        p = new Map();
        paths.set(m.event, p);
      }
      for (const f of m.where) p.set(f.path.parts.join('.'), f.path);
      if (extra) p.set(extra.parts.join('.'), extra);
      horizon.set(m.event, Math.max(horizon.get(m.event) ?? 0, windowMs ?? Number.POSITIVE_INFINITY));
    };
    for (const condition of segments.values()) for (const [m, w] of matchers(condition)) need(m, w, null);
    for (const c of computed.values()) need(c.match, c.withinMs, c.property);
    const projections = new Map<string, Projection>();
    const pathIndex = new Map<string, Map<string, number>>();
    for (const [event, byKey] of paths) {
      const keys = [...byKey.keys()].sort();
      projections.set(event, {
        name: event,
        paths: keys.map((k) => byKey.get(k)!),
        horizonMs: horizon.get(event)!,
      });
      pathIndex.set(event, new Map(keys.map((k, i) => [k, i])));
    }
    const compileMatcher = (m: EventMatcher): CompiledMatcher => ({
      event: m.event,
      where: m.where.map((f) => ({
        index: pathIndex.get(m.event)!.get(f.path.parts.join('.'))!,
        test: f.test,
      })),
    });

    const compiledComputed = new Map<string, CompiledComputed>();
    for (const [key, definition] of computed) {
      compiledComputed.set(key, {
        key,
        definition,
        match: compileMatcher(definition.match),
        propertyIndex:
          definition.property === null
            ? -1
            : pathIndex.get(definition.match.event)!.get(definition.property.parts.join('.'))!,
      });
    }

    // Closures: what each segment reads through the segments and computed traits it references.
    const compiled = new Map<string, CompiledSegment>();
    for (const [i, key] of order.entries()) {
      const r = refs.get(key)!;
      const events = new Set(r.events);
      const traits = new Set(r.traits);
      let timed = r.timed;
      const uses = new Set([...r.segments].map((k) => `segments:${k}`));
      for (const c of r.computed) uses.add(`computed:${c}`);
      for (const c of r.computed) {
        const def = computed.get(c)!;
        events.add(def.match.event);
        if (def.withinMs !== null || TIMED_AGGREGATES.has(def.aggregate)) timed = true;
      }
      for (const s of r.segments) {
        const dep = compiled.get(s)!;
        for (const e of dep.events) events.add(e);
        for (const t of dep.traits) traits.add(t);
        for (const u of dep.uses) uses.add(u);
        timed ||= dep.timed;
      }
      const mono = new Map<string, 'up' | 'down'>();
      for (const e of events) {
        const m = monotone(segments.get(key)!, e, computed, (k) => {
          const dep = compiled.get(k)!;
          return dep.events.has(e) ? (dep.monotone.get(e) ?? 'none') : 'indep';
        });
        if (m === 'up' || m === 'down') mono.set(e, m);
      }
      compiled.set(key, {
        key,
        monotone: mono,
        condition: compileCondition(segments.get(key)!, compileMatcher),
        order: i,
        events,
        traits,
        timed,
        uses,
      });
    }
    return new Registry([...compiled.values()], compiledComputed, projections);
  }
}

/**
 * A condition whose event matchers carry the index of each filtered value in the projection. The
 * shape is the checked `Condition`; matchers gain a `compiled` field the evaluator reads.
 */
export type RunCondition = Condition & { readonly compiled?: readonly CompiledMatcher[] };

function compileCondition(c: Condition, compile: (m: EventMatcher) => CompiledMatcher): RunCondition {
  switch (c.kind) {
    case 'all':
    case 'any':
      return { kind: c.kind, of: c.of.map((x) => compileCondition(x, compile)) };
    case 'not':
      return { kind: 'not', of: compileCondition(c.of, compile) };
    case 'event':
      return { ...c, compiled: [compile(c.match)] };
    case 'sequence':
      return { ...c, compiled: c.steps.map(compile) };
    default:
      return c;
  }
}
