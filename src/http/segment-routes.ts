import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { checkKey } from '../segments/definition.ts';
import {
  DefinitionErrors,
  type DefinitionKind,
  type SegmentService,
  StillReferenced,
} from '../segments/segment-service.ts';
import { documentedRoute } from './admin-routes.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError, HttpError } from './errors.ts';
import { acceptYamlBodies } from './yaml-bodies.ts';

export interface SegmentRouteDeps {
  readonly segments: SegmentService;
  readonly docs: ApiDocs;
  readonly adminTokenHash: string;
}

const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) });
const MembersQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 100 })),
  cursor: Type.Optional(Type.String({ minLength: 1, description: 'The `cursor` of the previous page.' })),
});
const PutQuery = Type.Object({
  wait: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 600,
      default: 10,
      description: 'Seconds to wait for the recompute before answering (status tells if it finished).',
    }),
  ),
});
const ErrorShape = Type.Object({ error: Type.String(), message: Type.String() });
const InvalidShape = Type.Object({
  error: Type.Literal('invalid_definition'),
  message: Type.String(),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});

/**
 * Admin API for segments (`/api/segments`) and computed traits (`/api/computed-traits`). Bodies are
 * JSON, or YAML with a YAML content type. Bad definitions get a 400 naming each bad path.
 */
export async function segmentRoutes(app: FastifyInstance, deps: SegmentRouteDeps): Promise<void> {
  const service = deps.segments;
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => checkAdminBearer(req, deps.adminTokenHash));
    acceptYamlBodies(scope);
    const route = documentedRoute(scope, deps.docs);
    const common = { 401: { description: 'Missing or wrong admin token.', schema: ErrorShape } };

    const checkKeyParam = (key: string) => {
      const e = checkKey(key);
      if (e !== null) {
        throw new HttpError(400, { error: 'invalid_definition', message: `key ${e.message}`, errors: [e] });
      }
    };
    const invalid = (err: DefinitionErrors) =>
      new HttpError(400, {
        error: 'invalid_definition',
        message: `the definition is not valid: ${err.message}`,
        errors: err.errors,
      });

    for (const kind of ['segments', 'computed'] as const) {
      const base = kind === 'segments' ? '/api/segments' : '/api/computed-traits';
      const noun = kind === 'segments' ? 'segment' : 'computed trait';
      const tag = kind === 'segments' ? 'Segments' : 'Computed traits';
      const notFound = (key: string) => adminError(404, 'not_found', `no ${noun} '${key}'`);
      const view = (key: string) => {
        const stored = service.get(kind, key);
        if (stored === null) throw notFound(key);
        return describe(service, kind, key);
      };

      route<unknown, unknown, unknown>(
        {
          method: 'GET',
          url: base,
          summary: `List ${noun}s`,
          tag,
          auth: 'admin',
          responses: { 200: { description: `Every ${noun}.` }, ...common },
        },
        async () => {
          const sizes = kind === 'segments' ? await service.sizes() : {};
          const all = await Promise.all(
            service.list(kind).map((d) => describe(service, kind, d.key, sizes[d.key] ?? 0)),
          );
          return { [kind === 'segments' ? 'segments' : 'computedTraits']: all };
        },
      );

      route<Static<typeof KeyParams>, Static<typeof PutQuery>, unknown>(
        {
          method: 'PUT',
          url: `${base}/:key`,
          summary: `Create or replace a ${noun} (JSON or YAML body); membership is recomputed while events keep flowing`,
          tag,
          auth: 'admin',
          params: KeyParams,
          querystring: PutQuery,
          responses: {
            200: { description: `The ${noun}, replaced.` },
            201: { description: `The ${noun}, created.` },
            400: {
              description: 'The definition is not valid; every bad path is named.',
              schema: InvalidShape,
            },
            ...common,
          },
        },
        async (req, reply) => {
          checkKeyParam(req.params.key);
          if (req.body === undefined || req.body === null) {
            throw invalid(
              new DefinitionErrors([{ path: '', message: 'a definition is required as the body' }]),
            );
          }
          try {
            const { created, recomputed } = await service.put(kind, req.params.key, req.body);
            const wait = (req.query.wait ?? 10) * 1000;
            if (wait > 0) {
              let timer: NodeJS.Timeout | undefined;
              await Promise.race([
                recomputed.catch(() => undefined),
                new Promise((resolve) => {
                  timer = setTimeout(resolve, wait);
                }),
              ]);
              clearTimeout(timer);
            }
            reply.status(created ? 201 : 200);
            return view(req.params.key);
          } catch (err) {
            if (err instanceof DefinitionErrors) throw invalid(err);
            throw err;
          }
        },
      );

      route<Static<typeof KeyParams>, unknown, unknown>(
        {
          method: 'GET',
          url: `${base}/:key`,
          summary: kind === 'segments' ? 'A segment with its size and status' : 'A computed trait',
          tag,
          auth: 'admin',
          params: KeyParams,
          responses: {
            200: { description: `The ${noun}.` },
            404: { description: 'No such key.' },
            ...common,
          },
        },
        async (req) => view(req.params.key),
      );

      route<Static<typeof KeyParams>, unknown, unknown>(
        {
          method: 'DELETE',
          url: `${base}/:key`,
          summary: `Delete a ${noun} (refused while a segment refers to it)`,
          tag,
          auth: 'admin',
          params: KeyParams,
          responses: {
            200: { description: 'Deleted.' },
            404: { description: 'No such key.' },
            409: { description: 'A segment still refers to it.', schema: ErrorShape },
            ...common,
          },
        },
        async (req) => {
          try {
            if (!(await service.delete(kind, req.params.key))) throw notFound(req.params.key);
            return { key: req.params.key, deleted: true };
          } catch (err) {
            if (err instanceof StillReferenced) {
              throw adminError(409, 'conflict', `${noun} '${req.params.key}' is ${err.message}`);
            }
            throw err;
          }
        },
      );
    }

    route<Static<typeof KeyParams>, Static<typeof MembersQuery>, unknown>(
      {
        method: 'GET',
        url: '/api/segments/:key/members',
        summary: 'Members of a segment (profile ids in id order), paged with a cursor',
        tag: 'Segments',
        auth: 'admin',
        params: KeyParams,
        querystring: MembersQuery,
        responses: {
          200: { description: '`{members, cursor}`; cursor is null on the last page.' },
          404: { description: 'No such segment.' },
          ...common,
        },
      },
      async (req) => {
        if (service.get('segments', req.params.key) === null) {
          throw adminError(404, 'not_found', `no segment '${req.params.key}'`);
        }
        return service.members(req.params.key, req.query.limit ?? 100, req.query.cursor ?? null);
      },
    );
  });
}

async function describe(service: SegmentService, kind: DefinitionKind, key: string, size?: number) {
  const stored = service.get(kind, key)!;
  const common = {
    key,
    definition: stored.definition,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
  };
  if (kind === 'computed') return common;
  const { status, progress } = service.status(key);
  return { ...common, size: size ?? (await service.size(key)), status, ...(progress ? { progress } : {}) };
}
