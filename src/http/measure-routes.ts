/**
 * Measurement routes of the admin API: `GET /api/experiments/{experimentId}/report`.
 *
 * The route reads the log through `deps.loadEvents` (a scan of the workspace's events with the
 * given names) and leaves the statistics to the pure report builder.
 */

import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WorkspaceId } from '../core/ids.ts';
import {
  type Assignment,
  assignmentFromEvent,
  buildExperimentReport,
  type Conversion,
  conversionFromEvent,
  type EventLike,
  EXPERIMENT_VIEWED,
  ReportOptionsError,
  UnknownVariationError,
} from '../measure/experiment-report.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError } from './errors.ts';

export interface MeasureDeps {
  /** The workspace's events whose name is one of `names`, in any order. */
  loadEvents(ws: WorkspaceId, names: readonly string[]): AsyncIterable<EventLike>;
  /**
   * Assignments recorded other than by `Experiment Viewed` events (the journey runtime's control
   * and variant groups, experiment ids `journey:{journeyKey}`), when there is such a source.
   */
  loadAssignments?(ws: WorkspaceId, experimentId: string): AsyncIterable<Assignment>;
  readonly docs: ApiDocs;
  readonly workspace: WorkspaceId;
  /** SHA-256 of the admin token. */
  readonly adminTokenHash: string;
}

const MAX_WINDOW_DAYS = 3650;

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

        const assignments: Assignment[] = [];
        const conversions: Conversion[] = [];
        let conversionEvents = 0;
        for await (const e of deps.loadEvents(ws, [EXPERIMENT_VIEWED, conversion])) {
          const a = assignmentFromEvent(e, experimentId);
          if (a !== null) assignments.push(a);
          if (e.name === conversion) {
            conversionEvents++;
            conversions.push(conversionFromEvent(e, valueProperty));
          }
        }
        if (deps.loadAssignments)
          for await (const a of deps.loadAssignments(ws, experimentId)) assignments.push(a);
        if (assignments.length === 0)
          throw adminError(404, 'not_found', `no profile has been assigned to experiment '${experimentId}'`);
        if (conversionEvents === 0)
          throw adminError(
            400,
            'bad_request',
            `unknown conversion event '${conversion}': no event of that name has been received`,
          );
        try {
          return buildExperimentReport(assignments, conversions, {
            experimentId,
            windowDays,
            ...(control !== undefined ? { control } : {}),
          });
        } catch (err) {
          if (err instanceof UnknownVariationError || err instanceof ReportOptionsError)
            throw adminError(400, 'bad_request', err.message);
          throw err;
        }
      },
    );
  });
}
