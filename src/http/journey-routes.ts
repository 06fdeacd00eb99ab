import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  JourneyDefinitionErrors,
  JourneyNotFound,
  type JourneyService,
  JourneyStateError,
} from '../journeys/journey-service.ts';
import type { RunState } from '../journeys/step.ts';
import { checkKey } from '../segments/definition.ts';
import { documentedRoute } from './admin-routes.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError, HttpError } from './errors.ts';
import { acceptYamlBodies } from './yaml-bodies.ts';

export interface JourneyRouteDeps {
  readonly journeys: JourneyService;
  readonly docs: ApiDocs;
  readonly adminTokenHash: string;
}

const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) });
const VersionParams = Type.Object({
  key: Type.String({ minLength: 1, maxLength: 100 }),
  version: Type.Integer({ minimum: 1 }),
});
const RunParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const PutQuery = Type.Object({
  dryRun: Type.Optional(Type.Boolean({ description: 'Only check the definition; save nothing.' })),
  publish: Type.Optional(Type.Boolean({ description: 'Publish the saved version at once.' })),
});
const PublishBody = Type.Union([
  Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
  Type.Null(),
]);
const RunsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ minLength: 1 })),
});
const ErrorShape = Type.Object({ error: Type.String(), message: Type.String() });
const InvalidShape = Type.Object({
  error: Type.Literal('invalid_definition'),
  message: Type.String(),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export const runView = (r: RunState) => ({
  id: r.id,
  journey: r.journey,
  version: r.version,
  profileId: r.profileId,
  status: r.status,
  node: r.node,
  wakeAt: iso(r.wakeAt),
  startedAt: iso(r.startedAt),
  updatedAt: iso(r.updatedAt),
  trigger: r.trigger,
  arrivals: r.arrivals,
  variants: r.variants,
  reason: r.reason,
});

/**
 * Admin API for journeys: definitions with versions (`PUT` saves a draft version; `publish` makes
 * it the one new entries start on), lifecycle (pause, resume, stop), live statistics and runs.
 */
export async function journeyRoutes(app: FastifyInstance, deps: JourneyRouteDeps): Promise<void> {
  const service = deps.journeys;
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => checkAdminBearer(req, deps.adminTokenHash));
    acceptYamlBodies(scope);
    const route = documentedRoute(scope, deps.docs);
    const tag = 'Journeys';
    const common = { 401: { description: 'Missing or wrong admin token.', schema: ErrorShape } };
    const notFound = { 404: { description: 'No such journey.', schema: ErrorShape } };

    const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof JourneyDefinitionErrors)
          throw new HttpError(400, {
            error: 'invalid_definition',
            message: `the journey is not valid: ${err.message}`,
            errors: err.errors,
          });
        if (err instanceof JourneyNotFound) throw adminError(404, 'not_found', err.message);
        if (err instanceof JourneyStateError) throw adminError(409, 'conflict', err.message);
        throw err;
      }
    };
    const describe = async (key: string) => {
      const r = service.record(key);
      if (r === null) throw new JourneyNotFound(key);
      const versions = await service.versionsOf(key);
      const latest = versions[versions.length - 1];
      return {
        key,
        status: r.status,
        publishedVersion: r.publishedVersion,
        latestVersion: r.latestVersion,
        updatedAt: iso(r.updatedAt),
        definition: latest?.definition ?? null,
        versions: versions.map((v) => ({ version: v.version, createdAt: iso(v.createdAt) })),
      };
    };

    route<unknown, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/journeys',
        summary: 'List journeys with their status and versions',
        tag,
        auth: 'admin',
        responses: { 200: { description: '`{journeys: [...]}`' }, ...common },
      },
      async () => ({
        journeys: service.list().map((r) => ({
          key: r.key,
          status: r.status,
          publishedVersion: r.publishedVersion,
          latestVersion: r.latestVersion,
          updatedAt: iso(r.updatedAt),
        })),
      }),
    );

    route<Static<typeof KeyParams>, Static<typeof PutQuery>, unknown>(
      {
        method: 'PUT',
        url: '/api/journeys/:key',
        summary:
          'Save a journey definition (JSON or YAML) as a new draft version; `?publish=true` publishes it, `?dryRun=true` only checks it',
        tag,
        auth: 'admin',
        params: KeyParams,
        querystring: PutQuery,
        responses: {
          200: { description: 'Saved (or unchanged) on an existing journey.' },
          201: { description: 'A new journey.' },
          400: { description: 'Not valid; every bad path is named.', schema: InvalidShape },
          ...common,
        },
      },
      async (req, reply) =>
        wrap(async () => {
          const e = checkKey(req.params.key);
          if (e !== null) throw new JourneyDefinitionErrors([e]);
          if (req.body === undefined || req.body === null)
            throw new JourneyDefinitionErrors([
              { path: '', message: 'a journey definition is required as the body' },
            ]);
          if (req.query.dryRun) {
            await service.check(req.params.key, req.body);
            return { key: req.params.key, valid: true };
          }
          const { version, created, changed } = await service.put(req.params.key, req.body);
          if (req.query.publish) await service.publish(req.params.key, version);
          reply.status(created ? 201 : 200);
          return { ...(await describe(req.params.key)), savedVersion: version, changed };
        }),
    );

    route<Static<typeof KeyParams>, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/journeys/:key',
        summary: 'A journey: status, versions and the latest definition',
        tag,
        auth: 'admin',
        params: KeyParams,
        responses: { 200: { description: 'The journey.' }, ...notFound, ...common },
      },
      async (req) => wrap(() => describe(req.params.key)),
    );

    route<Static<typeof VersionParams>, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/journeys/:key/versions/:version',
        summary: 'One version of a journey definition',
        tag,
        auth: 'admin',
        params: VersionParams,
        responses: { 200: { description: 'The version.' }, ...notFound, ...common },
      },
      async (req) =>
        wrap(async () => {
          const v = await service.version(req.params.key, req.params.version);
          if (v === null)
            throw adminError(
              404,
              'not_found',
              `journey '${req.params.key}' has no version ${req.params.version}`,
            );
          return { key: v.key, version: v.version, createdAt: iso(v.createdAt), definition: v.definition };
        }),
    );

    const lifecycle = [
      [
        'publish',
        'Publish a version (default the latest): new entries start on it, runs in flight finish on theirs',
      ],
      ['pause', 'Pause: no new entries, timers hold until resumed; goals and exit rules still apply'],
      ['resume', 'Resume a paused journey (timers that fell due fire now)'],
      ['stop', 'Stop: no new entries and every live run exits (reason `stopped`)'],
    ] as const;
    for (const [action, summary] of lifecycle) {
      route<Static<typeof KeyParams>, unknown, Static<typeof PublishBody> | undefined>(
        {
          method: 'POST',
          url: `/api/journeys/:key/${action}`,
          summary,
          tag,
          auth: 'admin',
          params: KeyParams,
          ...(action === 'publish' ? { body: PublishBody } : {}),
          responses: {
            200: { description: 'The journey after the change.' },
            409: { description: 'Not possible in its current status.', schema: ErrorShape },
            ...notFound,
            ...common,
          },
        },
        async (req) =>
          wrap(async () => {
            const key = req.params.key;
            if (action === 'publish') await service.publish(key, req.body?.version ?? undefined);
            else if (action === 'pause') await service.pause(key);
            else if (action === 'resume') await service.resume(key);
            else await service.stop(key);
            return describe(key);
          }),
      );
    }

    route<Static<typeof KeyParams>, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/journeys/:key/stats',
        summary:
          'Live statistics: entered, held out, converted, completed, exited by reason, waiting now, and per node reached / passed / waiting',
        tag,
        auth: 'admin',
        params: KeyParams,
        responses: { 200: { description: 'The statistics.' }, ...notFound, ...common },
      },
      async (req) => wrap(() => service.stats(req.params.key)),
    );

    route<Static<typeof KeyParams>, Static<typeof RunsQuery>, unknown>(
      {
        method: 'GET',
        url: '/api/journeys/:key/runs',
        summary: 'Live runs of a journey (active or scheduled), in id order, paged with a cursor',
        tag,
        auth: 'admin',
        params: KeyParams,
        querystring: RunsQuery,
        responses: { 200: { description: '`{runs, cursor}`' }, ...notFound, ...common },
      },
      async (req) =>
        wrap(async () => {
          if (service.record(req.params.key) === null) throw new JourneyNotFound(req.params.key);
          const limit = req.query.limit ?? 100;
          const runs = await service.liveRuns(req.params.key, req.query.cursor ?? '', limit);
          return {
            runs: runs.map(runView),
            cursor: runs.length === limit ? runs[runs.length - 1]!.id : null,
          };
        }),
    );

    route<Static<typeof RunParams>, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/runs/:id',
        summary: 'One journey run with the messages and trait updates it queued',
        tag,
        auth: 'admin',
        params: RunParams,
        responses: { 200: { description: 'The run.' }, 404: { description: 'No such run.' }, ...common },
      },
      async (req) => {
        const r = await service.run(req.params.id);
        if (r === null) throw adminError(404, 'not_found', `no run '${req.params.id}'`);
        const outbox = await service.outboxOfRun(r.id);
        return {
          ...runView(r),
          outbox: outbox.map((o) => ({
            id: o.id,
            kind: o.kind,
            status: o.status,
            detail: o.detail,
            attempts: o.attempts,
            dueAt: iso(o.dueAt),
            createdAt: iso(o.createdAt),
            payload: o.payload,
          })),
        };
      },
    );

    route<Static<typeof RunParams>, Static<typeof RunsQuery>, unknown>(
      {
        method: 'GET',
        url: '/api/profiles/:id/runs',
        summary: "A profile's journey runs, newest first",
        tag,
        auth: 'admin',
        params: RunParams,
        querystring: RunsQuery,
        responses: { 200: { description: '`{runs}`' }, ...common },
      },
      async (req) => ({
        runs: (await service.profileRuns(req.params.id, req.query.limit ?? 100)).map(runView),
      }),
    );
  });
}
