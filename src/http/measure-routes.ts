/**
 * Measurement routes of the admin API: the experiment report (with breakdowns and the global
 * holdout), the sample-size calculator, funnels, paths and the global holdout setting.
 *
 * The routes read the log through `deps.loadEvents` (a scan of the workspace's events with the
 * given names) or, for queries over every event, the store; they leave the computing to the pure
 * builders in src/measure.
 */

import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WorkspaceId } from '../core/ids.ts';
import { EventTableBuilder } from '../measure/event-table.ts';
import { buildExperimentBreakdown, parseBreakdown } from '../measure/experiment-breakdown.ts';
import {
  type Assignment,
  assignmentFromEvent,
  buildExperimentReport,
  type Conversion,
  conversionFromEvent,
  type EventLike,
  EXPERIMENT_VIEWED,
  type ExperimentReportOptions,
  ReportOptionsError,
  UnknownVariationError,
} from '../measure/experiment-report.ts';
import { checkFunnel, funnel, funnelPaths } from '../measure/funnel.ts';
import {
  checkHoldoutSetting,
  EXPOSED_VARIATION,
  GLOBAL_HOLDOUT_EXPERIMENT,
  HOLDOUT_SETTING_KEY,
  HOLDOUT_VARIATION,
  holdoutAssignments,
  holdoutSalt,
  holdoutShares,
  parseHoldoutSetting,
} from '../measure/holdout.ts';
import { checkPaths, paths, pathsQueryPaths } from '../measure/paths.ts';
import { checkSampleSize, sampleSize } from '../measure/sample-size.ts';
import type { DefinitionError } from '../segments/definition.ts';
import type { Store } from '../store/port.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError, HttpError } from './errors.ts';

export interface MeasureDeps {
  /** The workspace's events whose name is one of `names`, in any order. */
  loadEvents(ws: WorkspaceId, names: readonly string[]): AsyncIterable<EventLike>;
  /**
   * Assignments recorded other than by `Experiment Viewed` events (the journey runtime's control
   * and variant groups, experiment ids `journey:{journeyKey}`), when there is such a source.
   */
  loadAssignments?(ws: WorkspaceId, experimentId: string): AsyncIterable<Assignment>;
  /**
   * The store, for what reads every event (paths, the global holdout report) and for the global
   * holdout setting. Without it those routes are not registered.
   */
  readonly store?: MeasureStore;
  readonly docs: ApiDocs;
  readonly workspace: WorkspaceId;
  /** SHA-256 of the admin token. */
  readonly adminTokenHash: string;
}

/** What the measurement routes use of the store. */
export type MeasureStore = Pick<Store, 'getSetting' | 'setSetting' | 'scanEvents' | 'maxSeq'>;

const MAX_WINDOW_DAYS = 3650;
const SCAN_PAGE = 10_000;

/** Every event of the workspace, oldest first, up to the last one stored when the scan began. */
async function* scanAllEvents(store: MeasureStore, ws: WorkspaceId): AsyncGenerator<EventLike> {
  const upToSeq = await store.maxSeq(ws);
  let afterSeq = 0;
  while (afterSeq < upToSeq) {
    const batch = await store.scanEvents(ws, { afterSeq, upToSeq, limit: SCAN_PAGE });
    yield* batch;
    if (batch.length < SCAN_PAGE) return;
    afterSeq = batch[batch.length - 1]!.seq;
  }
}

/** A 400 naming every problem of a request body by its path. */
function badRequest(errors: readonly DefinitionError[]): HttpError {
  const message = errors.map((e) => (e.path === '' ? e.message : `${e.path}: ${e.message}`)).join('; ');
  return new HttpError(400, { error: 'bad_request', message, errors });
}

function unknownEvents(names: readonly string[], seen: ReadonlySet<string>): void {
  const unknown = [...new Set(names)].filter((n) => !seen.has(n));
  if (unknown.length > 0)
    throw adminError(
      400,
      'bad_request',
      `unknown event ${unknown.map((n) => `'${n}'`).join(', ')}: no event of that name has been received`,
    );
}

const ErrorShape = Type.Object({ error: Type.String(), message: Type.String() });
const ReportParams = Type.Object({
  experimentId: Type.String({
    minLength: 1,
    maxLength: 500,
    description: 'The experiment id (`experiment_id`).',
  }),
});
const ReportQuery = Type.Object({
  conversion: Type.Optional(Type.String({ description: 'Name of the conversion event (required).' })),
  control: Type.Optional(Type.String({ description: 'The control variation, by id or name.' })),
  value: Type.Optional(
    Type.String({ description: 'Property of the conversion event to sum as value, e.g. `revenue`.' }),
  ),
  windowDays: Type.Optional(
    Type.String({
      description: 'Days after the first assignment in which a conversion counts (default 14).',
    }),
  ),
  breakdown: Type.Optional(
    Type.String({
      description:
        'Report once per value of this property: of the assignment event (`message`, `assignment.channel`) or of the conversion event (`conversion.category`).',
    }),
  ),
});
const Interval = Type.Union([Type.Tuple([Type.Number(), Type.Number()]), Type.Null()]);
const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
const ReportShape = Type.Object(
  {
    experiment: Type.String(),
    control: Type.Union([Type.String(), Type.Null()]),
    windowDays: Type.Number(),
    arms: Type.Array(
      Type.Object(
        {
          variation: Type.String(),
          n: Type.Integer(),
          conversions: Type.Integer(),
          conversionRate: NullableNumber,
          conversionRateCi: Interval,
          valuePerProfile: NullableNumber,
          lift: Type.Union([
            Type.Object(
              {
                absolute: NullableNumber,
                relative: NullableNumber,
                ci: Interval,
                pValue: NullableNumber,
              },
              { additionalProperties: true },
            ),
            Type.Null(),
          ]),
        },
        { additionalProperties: true },
      ),
    ),
  },
  { additionalProperties: true, description: 'The experiment report; see docs/measurement.md.' },
);

function parseWindowDays(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 14;
  const text = raw.trim();
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  if (!(n > 0) || n > MAX_WINDOW_DAYS)
    throw adminError(
      400,
      'bad_request',
      `windowDays must be a number of days greater than 0 and at most ${MAX_WINDOW_DAYS}, got '${raw}'`,
    );
  return n;
}

/** Registers the measurement routes (admin bearer token required). */
export async function measureRoutes(app: FastifyInstance, deps: MeasureDeps): Promise<void> {
  const ws = deps.workspace;
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => checkAdminBearer(req, deps.adminTokenHash));
    const doc = {
      method: 'GET',
      url: '/api/experiments/:experimentId/report',
      summary: 'Experiment report: per arm size, conversions, rate, value per profile and lift over control',
      tag: 'Measurement',
      auth: 'admin',
      params: ReportParams,
      querystring: ReportQuery,
      responses: {
        200: { description: 'The report.', schema: ReportShape },
        400: {
          description: 'Missing or unknown conversion event, unknown control, bad windowDays.',
          schema: ErrorShape,
        },
        401: { description: 'Missing or wrong admin token.', schema: ErrorShape },
        404: { description: 'No assignments to this experiment.', schema: ErrorShape },
      },
    } as const;
    deps.docs.add(doc);
    scope.get(
      doc.url,
      { schema: { params: ReportParams, querystring: ReportQuery } },
      async (
        req: FastifyRequest<{ Params: Static<typeof ReportParams>; Querystring: Static<typeof ReportQuery> }>,
      ) => {
        const experimentId = req.params.experimentId;
        const conversion = req.query.conversion?.trim() ?? '';
        if (conversion === '')
          throw adminError(
            400,
            'bad_request',
            'conversion is required: the name of the conversion event, e.g. ?conversion=Order%20Completed',
          );
        const valueProperty = req.query.value?.trim() || undefined;
        const windowDays = parseWindowDays(req.query.windowDays);
        const control = req.query.control?.trim() || undefined;
        const breakdownText = req.query.breakdown?.trim() || undefined;
        const breakdown = breakdownText === undefined ? undefined : parseBreakdown(breakdownText);
        if (breakdown !== undefined && (breakdown.property === '' || breakdown.property.length > 200))
          throw adminError(
            400,
            'bad_request',
            'breakdown must be a property path such as `message` or `conversion.category`',
          );
        const keepBody = breakdown !== undefined;

        const assignments: Assignment[] = [];
        const conversions: Conversion[] = [];
        let conversionEvents = 0;
        const options: { -readonly [K in keyof ExperimentReportOptions]: ExperimentReportOptions[K] } = {
          experimentId,
          windowDays,
          ...(control !== undefined ? { control } : {}),
        };
        const onConversion = (e: EventLike) => {
          conversionEvents++;
          const c = conversionFromEvent(e, valueProperty);
          conversions.push(keepBody ? { ...c, body: e.body } : c);
        };
        if (experimentId === GLOBAL_HOLDOUT_EXPERIMENT && deps.store) {
          // Every profile with an event is in the experiment, assigned at its first event.
          const setting = parseHoldoutSetting(await deps.store.getSetting(ws, HOLDOUT_SETTING_KEY));
          const first = new Map<string, EventLike>();
          for await (const e of scanAllEvents(deps.store, ws)) {
            const seen = first.get(e.profileId);
            if (seen === undefined || e.timestamp < seen.timestamp) first.set(e.profileId, e);
            if (e.name === conversion) onConversion(e);
          }
          const salt = holdoutSalt(setting, ws);
          const derived = holdoutAssignments(
            [...first].map(([id, e]) => [id, e.timestamp] as const),
            salt,
            setting.percent,
          );
          for (const a of derived)
            assignments.push(keepBody ? { ...a, body: first.get(a.profileId)!.body } : a);
          if (setting.percent > 0) {
            // Both arms are listed even when one is still empty, so the lift is always over the holdout.
            options.control ??= HOLDOUT_VARIATION;
            options.variations = [HOLDOUT_VARIATION, EXPOSED_VARIATION].map((v) => ({
              variation: v,
              variationName: v,
            }));
            options.expectedShares = holdoutShares(setting.percent);
          }
        } else {
          for await (const e of deps.loadEvents(ws, [EXPERIMENT_VIEWED, conversion])) {
            const a = assignmentFromEvent(e, experimentId);
            if (a !== null) assignments.push(keepBody ? { ...a, body: e.body } : a);
            if (e.name === conversion) onConversion(e);
          }
          if (deps.loadAssignments)
            for await (const a of deps.loadAssignments(ws, experimentId)) assignments.push(a);
        }
        if (assignments.length === 0)
          throw adminError(404, 'not_found', `no profile has been assigned to experiment '${experimentId}'`);
        if (conversionEvents === 0)
          throw adminError(
            400,
            'bad_request',
            `unknown conversion event '${conversion}': no event of that name has been received`,
          );
        try {
          const report = buildExperimentReport(assignments, conversions, options);
          if (
            experimentId === GLOBAL_HOLDOUT_EXPERIMENT &&
            !report.arms.some((a) => a.variation === HOLDOUT_VARIATION)
          )
            report.warnings.push(
              'no profile is held out: set a global holdout with PUT /api/settings/holdout',
            );
          if (breakdown === undefined) return report;
          return {
            ...report,
            breakdown: buildExperimentBreakdown(assignments, conversions, options, breakdown),
          };
        } catch (err) {
          if (err instanceof UnknownVariationError || err instanceof ReportOptionsError)
            throw adminError(400, 'bad_request', err.message);
          throw err;
        }
      },
    );

    const sampleSizeFields = {
      baseline: 'Conversion rate of the control, strictly between 0 and 1 (required).',
      mde: 'Absolute change of the rate to detect (e.g. 0.01 for 5 % → 6 %).',
      relativeMde: 'Relative change of the rate to detect (e.g. 0.2 for +20 %).',
      sampleSizePerArm: 'Profiles per arm you have: the answer is then the effect they can detect.',
      alpha: 'Two-sided significance level (default 0.05).',
      power: 'Probability of detecting the effect when it is real (default 0.8).',
      arms: 'Arms including the control, for the total (default 2).',
    };
    const SampleSizeQuery = Type.Object(
      Object.fromEntries(
        Object.entries(sampleSizeFields).map(([k, d]) => [k, Type.Optional(Type.String({ description: d }))]),
      ),
    );
    const SampleSizeBody = Type.Object(
      Object.fromEntries(
        Object.entries(sampleSizeFields).map(([k, d]) => [k, Type.Optional(Type.Number({ description: d }))]),
      ),
      { additionalProperties: true },
    );
    const SampleSizeShape = Type.Object(
      {
        baseline: Type.Number(),
        alpha: Type.Number(),
        power: Type.Number(),
        arms: Type.Integer(),
        minimumDetectableEffect: NullableNumber,
        relativeMinimumDetectableEffect: NullableNumber,
        sampleSizePerArm: NullableNumber,
        totalSampleSize: NullableNumber,
        achievedPower: NullableNumber,
      },
      { description: 'Two-sided two-proportion test; see docs/measurement.md.' },
    );
    const BadRequest = Type.Object({
      error: Type.String(),
      message: Type.String(),
      errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
    });
    for (const method of ['GET', 'POST'] as const) {
      deps.docs.add({
        method,
        url: '/api/experiments/sample-size',
        summary:
          method === 'GET'
            ? 'Sample size per arm for an effect, or the minimum detectable effect for a sample size'
            : 'The sample-size calculator with a JSON body',
        tag: 'Measurement',
        auth: 'admin',
        ...(method === 'GET' ? { querystring: SampleSizeQuery } : { body: SampleSizeBody }),
        responses: {
          200: { description: 'The answer.', schema: SampleSizeShape },
          400: {
            description:
              'Missing baseline, not exactly one of mde / relativeMde / sampleSizePerArm, values out of range.',
            schema: BadRequest,
          },
          401: { description: 'Missing or wrong admin token.', schema: ErrorShape },
        },
      });
    }
    const answerSampleSize = (input: unknown) => {
      const checked = checkSampleSize(input ?? {});
      if (!checked.ok) throw badRequest(checked.errors);
      return sampleSize(checked.value);
    };
    scope.get('/api/experiments/sample-size', async (req) => answerSampleSize(req.query));
    scope.post('/api/experiments/sample-size', async (req) => answerSampleSize(req.body));

    const AnyBody = (description: string) => Type.Object({}, { additionalProperties: true, description });
    const StepShape = Type.Object({
      step: Type.Integer(),
      event: Type.String(),
      count: Type.Integer(),
      conversionRate: NullableNumber,
      stepConversionRate: NullableNumber,
      dropOff: Type.Integer(),
      medianTimeToConvertMs: NullableNumber,
      medianTimeFromPreviousMs: NullableNumber,
    });
    const FunnelShape = Type.Object(
      {
        windowMs: Type.Number(),
        entered: Type.Integer(),
        converted: Type.Integer(),
        conversionRate: NullableNumber,
        steps: Type.Array(StepShape),
        breakdown: Type.Union([
          Type.Object({
            property: Type.String(),
            groups: Type.Array(Type.Object({ value: Type.Unknown(), steps: Type.Array(StepShape) })),
            omittedGroups: Type.Integer(),
          }),
          Type.Null(),
        ]),
      },
      { description: 'Per-step counts, conversion and median time to convert; see docs/measurement.md.' },
    );
    const funnelDoc = {
      method: 'POST',
      url: '/api/analytics/funnel',
      summary:
        'Funnel: ordered steps with property filters inside a conversion window, optionally broken down',
      tag: 'Analytics',
      auth: 'admin',
      body: AnyBody(
        '`{"steps": [{"event": "Product Viewed", "where": [{"property": "category", "op": "eq", "value": "Yoga"}]}, {"event": "Order Completed"}], "window": "7d", "breakdown": "category", "breakdownLimit": 50, "since": ISO time, "until": ISO time}`; filters use the segment `where` grammar.',
      ),
      responses: {
        200: { description: 'The funnel.', schema: FunnelShape },
        400: {
          description: 'Fewer than two steps, a bad filter or window, an unknown event.',
          schema: BadRequest,
        },
        401: { description: 'Missing or wrong admin token.', schema: ErrorShape },
      },
    } as const;
    deps.docs.add(funnelDoc);
    scope.post(funnelDoc.url, async (req) => {
      const checked = checkFunnel(req.body);
      if (!checked.ok) throw badRequest(checked.errors);
      const def = checked.value;
      const names = def.steps.map((s) => s.event);
      const builder = new EventTableBuilder(funnelPaths(def));
      const seen = new Set<string>();
      for await (const e of deps.loadEvents(ws, [...new Set(names)])) {
        if (e.name !== null) seen.add(e.name);
        builder.add(e.profileId, e.name, e.timestamp, e.body);
      }
      unknownEvents(names, seen);
      return funnel(builder.build(), def);
    });

    const store = deps.store;
    if (store === undefined) return;

    const PathsShape = Type.Object(
      {
        direction: Type.Union([Type.Literal('from'), Type.Literal('to')]),
        anchor: Type.String(),
        profiles: Type.Integer(),
        paths: Type.Array(
          Type.Object({ events: Type.Array(Type.String()), count: Type.Integer(), share: Type.Number() }),
        ),
        distinctPaths: Type.Integer(),
        dropOffs: Type.Array(
          Type.Object({ step: Type.Integer(), reached: Type.Integer(), dropped: Type.Integer() }),
        ),
        nodes: Type.Array(
          Type.Object({
            id: Type.String(),
            step: Type.Integer(),
            event: Type.String(),
            count: Type.Integer(),
            dropOff: Type.Integer(),
          }),
        ),
        links: Type.Array(
          Type.Object({ source: Type.String(), target: Type.String(), count: Type.Integer() }),
        ),
      },
      { description: 'Most common paths, drop-offs, and nodes and links for a Sankey chart.' },
    );
    const pathsDoc = {
      method: 'POST',
      url: '/api/analytics/paths',
      summary:
        'Paths: the most common sequences of events after (from) or before (to) an event, for a Sankey chart',
      tag: 'Analytics',
      auth: 'admin',
      body: AnyBody(
        '`{"from": {"event": "Product Viewed", "where": [...]}}` or `{"to": {...}}`, with `steps` (1–10, default 5), `window` ("1d"), `collapseRepeats` (default true), `exclude` (event names), `topPaths` (default 20), `nodesPerStep` (default 10), `since`, `until`.',
      ),
      responses: {
        200: { description: 'The paths.', schema: PathsShape },
        400: { description: 'No or two anchors, bad steps or window, an unknown event.', schema: BadRequest },
        401: { description: 'Missing or wrong admin token.', schema: ErrorShape },
      },
    } as const;
    deps.docs.add(pathsDoc);
    scope.post(pathsDoc.url, async (req) => {
      const checked = checkPaths(req.body);
      if (!checked.ok) throw badRequest(checked.errors);
      const def = checked.value;
      const builder = new EventTableBuilder(pathsQueryPaths(def));
      const seen = new Set<string>();
      for await (const e of scanAllEvents(store, ws)) {
        if (e.name !== null) seen.add(e.name);
        builder.add(e.profileId, e.name, e.timestamp, e.body);
      }
      unknownEvents([def.anchor.event], seen);
      return paths(builder.build(), def);
    });

    const HoldoutShape = Type.Object({
      percent: Type.Number({ description: 'Share of profiles held out, 0–100.' }),
      salt: Type.String({
        description: 'Hashed with each profile id to draw the holdout; the workspace id unless set.',
      }),
      experiment: Type.String({ description: 'The experiment id of the holdout report.' }),
    });
    const HoldoutBody = Type.Object(
      {
        percent: Type.Number({ minimum: 0, maximum: 100 }),
        salt: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      },
      { additionalProperties: true },
    );
    const holdoutView = (stored: string | null) => {
      const setting = parseHoldoutSetting(stored);
      return {
        percent: setting.percent,
        salt: holdoutSalt(setting, ws),
        experiment: GLOBAL_HOLDOUT_EXPERIMENT,
      };
    };
    deps.docs.add({
      method: 'GET',
      url: '/api/settings/holdout',
      summary: 'The global holdout: the share of profiles that never receives promotional messages',
      tag: 'Measurement',
      auth: 'admin',
      responses: {
        200: { description: 'The setting (0 % when none is set).', schema: HoldoutShape },
        401: { description: 'Missing or wrong admin token.', schema: ErrorShape },
      },
    });
    deps.docs.add({
      method: 'PUT',
      url: '/api/settings/holdout',
      summary: 'Sets the global holdout percentage (and optionally its salt)',
      tag: 'Measurement',
      auth: 'admin',
      body: HoldoutBody,
      responses: {
        200: { description: 'The setting as stored.', schema: HoldoutShape },
        400: { description: 'percent not a number from 0 to 100, or a bad salt.', schema: BadRequest },
        401: { description: 'Missing or wrong admin token.', schema: ErrorShape },
      },
    });
    scope.get('/api/settings/holdout', async () =>
      holdoutView(await store.getSetting(ws, HOLDOUT_SETTING_KEY)),
    );
    scope.put('/api/settings/holdout', async (req) => {
      const current = parseHoldoutSetting(await store.getSetting(ws, HOLDOUT_SETTING_KEY));
      const checked = checkHoldoutSetting(req.body, current);
      if (!checked.ok) throw badRequest(checked.errors);
      const stored = JSON.stringify(checked.value);
      await store.setSetting(ws, HOLDOUT_SETTING_KEY, stored);
      return holdoutView(stored);
    });
  });
}
