import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { WorkspaceId } from '../core/ids.ts';
import { GuardrailService } from '../guardrails/guardrail-service.ts';
import { InvalidRulesError } from '../guardrails/parse-rules.ts';
import type { Store } from '../store/port.ts';
import { documentedRoute } from './admin-routes.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { HttpError } from './errors.ts';
import { acceptYamlBodies } from './yaml-bodies.ts';

export interface GuardrailRouteDeps {
  readonly store: Pick<Store, 'getSetting' | 'setSetting'>;
  readonly docs: ApiDocs;
  readonly workspace: WorkspaceId;
  /** SHA-256 of the admin token. */
  readonly adminTokenHash: string;
  /** The service the dispatcher decides with; one is opened on `store` when left out. */
  readonly guardrails?: GuardrailService;
  /** The time stored rules are stamped with (ms since the epoch). */
  readonly now?: () => number;
}

const ErrorShape = Type.Object({ error: Type.String(), message: Type.String() });
const InvalidShape = Type.Object({
  error: Type.Literal('invalid_rules'),
  message: Type.String(),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});
const ViewShape = Type.Object(
  {
    rules: Type.Unknown({ description: 'The rules as stored, or null when none were.' }),
    effective: Type.Object(
      {},
      { additionalProperties: true, description: 'The rules in force, defaults filled in.' },
    ),
    updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { additionalProperties: true, description: 'Guardrail rules; see docs/guardrails.md.' },
);

/**
 * Admin API for the workspace's guardrail rules: `GET /api/guardrails` and `PUT /api/guardrails`
 * (JSON, or YAML with a YAML content type). Bad rules get a 400 naming each bad path. Returns the
 * service the routes store through, so the dispatcher can decide with the same rules.
 */
export async function guardrailRoutes(
  app: FastifyInstance,
  deps: GuardrailRouteDeps,
): Promise<GuardrailService> {
  const ws = deps.workspace;
  const service = deps.guardrails ?? (await GuardrailService.open(deps.store, [ws]));
  const now = deps.now ?? Date.now;
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => checkAdminBearer(req, deps.adminTokenHash));
    acceptYamlBodies(scope);
    const route = documentedRoute(scope, deps.docs);
    const common = { 401: { description: 'Missing or wrong admin token.', schema: ErrorShape } };
    const show = () => {
      const v = service.view(ws);
      return { ...v, updatedAt: v.updatedAt === null ? null : new Date(v.updatedAt).toISOString() };
    };

    route<unknown, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/guardrails',
        summary: 'The guardrail rules: as stored, and in force with defaults filled in',
        tag: 'Guardrails',
        auth: 'admin',
        responses: { 200: { description: 'The rules.', schema: ViewShape }, ...common },
      },
      async () => show(),
    );

    route<unknown, unknown, unknown>(
      {
        method: 'PUT',
        url: '/api/guardrails',
        summary: 'Replace the guardrail rules (JSON or YAML body); in force for the next decision',
        tag: 'Guardrails',
        auth: 'admin',
        responses: {
          200: { description: 'The rules, stored.', schema: ViewShape },
          400: { description: 'The rules are not valid; every bad path is named.', schema: InvalidShape },
          ...common,
        },
      },
      async (req) => {
        try {
          await service.put(ws, req.body ?? null, now());
          return show();
        } catch (err) {
          if (err instanceof InvalidRulesError) {
            throw new HttpError(400, {
              error: 'invalid_rules',
              message: `the rules are not valid: ${err.message}`,
              errors: err.errors,
            });
          }
          throw err;
        }
      },
    );
  });
  return service;
}
