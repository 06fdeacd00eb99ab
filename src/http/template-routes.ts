import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { JsonObject } from '../core/event.ts';
import { asProfileId, type WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import type { Store } from '../store/port.ts';
import { InvalidTemplate, type StoredTemplate } from '../templates/template-definition.ts';
import type { TemplateProfile, TemplateService } from '../templates/template-service.ts';
import { documentedRoute } from './admin-routes.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError, HttpError } from './errors.ts';
import { acceptYamlBodies } from './yaml-bodies.ts';

export interface TemplateRouteDeps {
  readonly templates: TemplateService;
  readonly docs: ApiDocs;
  readonly adminTokenHash: string;
  readonly workspace: WorkspaceId;
  readonly store: Store;
  /** Fills in computed traits, as the admin API shows the profile. */
  readonly decorate?: (p: Profile) => Promise<Profile>;
}

const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) });
const ErrorShape = Type.Object({ error: Type.String(), message: Type.String() });
const InvalidShape = Type.Object({
  error: Type.Literal('invalid_template'),
  message: Type.String(),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

const invalid = (errors: readonly { path: string; message: string }[]) =>
  new HttpError(400, {
    error: 'invalid_template',
    message: `the template is not valid: ${errors.map((e) => `${e.path || '(template)'}: ${e.message}`).join('; ')}`,
    errors,
  });

const view = (t: StoredTemplate) => ({
  key: t.key,
  ...t.definition,
  createdAt: t.createdAt,
  updatedAt: t.updatedAt,
});

/**
 * Admin API for message templates (`/api/templates`): JSON or YAML bodies, path-precise errors
 * (bad Liquid is a 400 naming the field), and a preview rendering a template for a stored profile
 * or for an inline one.
 */
export async function templateRoutes(app: FastifyInstance, deps: TemplateRouteDeps): Promise<void> {
  const { templates, workspace: ws } = deps;
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => checkAdminBearer(req, deps.adminTokenHash));
    acceptYamlBodies(scope);
    const route = documentedRoute(scope, deps.docs);
    const common = { 401: { description: 'Missing or wrong admin token.', schema: ErrorShape } };
    const tag = 'Templates';
    const notFound = (key: string) => adminError(404, 'not_found', `no template '${key}'`);

    route<unknown, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/templates',
        summary: 'List message templates',
        tag,
        auth: 'admin',
        responses: { 200: { description: '`{templates:[…]}`, by key.' }, ...common },
      },
      async () => ({ templates: (await templates.list(ws)).map(view) }),
    );

    route<Static<typeof KeyParams>, unknown, unknown>(
      {
        method: 'PUT',
        url: '/api/templates/:key',
        summary: 'Create or replace a template (JSON or YAML body)',
        tag,
        auth: 'admin',
        params: KeyParams,
        responses: {
          200: { description: 'Replaced.' },
          201: { description: 'Created.' },
          400: { description: 'Not valid; every bad path is named.', schema: InvalidShape },
          ...common,
        },
      },
      async (req, reply) => {
        if (req.body === undefined || req.body === null) {
          throw invalid([{ path: '', message: 'a template is required as the body' }]);
        }
        try {
          const { created, template } = await templates.put(ws, req.params.key, req.body);
          reply.status(created ? 201 : 200);
          return view(template);
        } catch (e) {
          if (e instanceof InvalidTemplate) throw invalid(e.errors);
          throw e;
        }
      },
    );

    route<Static<typeof KeyParams>, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/templates/:key',
        summary: 'A template',
        tag,
        auth: 'admin',
        params: KeyParams,
        responses: { 200: { description: 'The template.' }, 404: { description: 'No such key.' }, ...common },
      },
      async (req) => {
        const t = await templates.get(ws, req.params.key);
        if (t === null) throw notFound(req.params.key);
        return view(t);
      },
    );

    route<Static<typeof KeyParams>, unknown, unknown>(
      {
        method: 'DELETE',
        url: '/api/templates/:key',
        summary: 'Delete a template',
        tag,
        auth: 'admin',
        params: KeyParams,
        responses: { 200: { description: 'Deleted.' }, 404: { description: 'No such key.' }, ...common },
      },
      async (req) => {
        if (!(await templates.delete(ws, req.params.key))) throw notFound(req.params.key);
        return { key: req.params.key, deleted: true };
      },
    );

    route<Static<typeof KeyParams>, unknown, unknown>(
      {
        method: 'POST',
        url: '/api/templates/:key/preview',
        summary:
          'Render a template for a stored profile (`{profileId}`) or an inline one (`{profile:{traits}, event, context, journey, computed}`)',
        tag,
        auth: 'admin',
        params: KeyParams,
        responses: {
          200: {
            description:
              '`{status:"rendered", locale, content}` or `{status:"skipped", reason, missing}` (what a send would do).',
          },
          400: { description: 'Bad preview input.', schema: ErrorShape },
          404: { description: 'No such template or profile.', schema: ErrorShape },
          ...common,
        },
      },
      async (req) => {
        const body = req.body ?? {};
        if (!isObject(body)) throw adminError(400, 'bad_request', 'body must be a JSON object');
        for (const k of Object.keys(body)) {
          if (!['profileId', 'profile', 'event', 'context', 'journey', 'computed'].includes(k)) {
            throw adminError(
              400,
              'bad_request',
              `${k}: unknown field; expected profileId, profile, event, context, journey or computed`,
            );
          }
        }
        for (const k of ['profile', 'event', 'context', 'journey', 'computed']) {
          if (body[k] !== undefined && body[k] !== null && !isObject(body[k])) {
            throw adminError(400, 'bad_request', `${k}: must be an object`);
          }
        }
        let profile: TemplateProfile;
        let computed = (body.computed as JsonObject | undefined) ?? {};
        if (body.profileId !== undefined) {
          if (typeof body.profileId !== 'string' || body.profileId === '') {
            throw adminError(400, 'bad_request', 'profileId: must be a non-empty string');
          }
          if (body.profile !== undefined) {
            throw adminError(400, 'bad_request', 'profile: give either profileId or profile, not both');
          }
          const stored = await deps.store.getProfile(ws, asProfileId(body.profileId));
          const p = stored !== null && deps.decorate ? await deps.decorate(stored) : stored;
          if (p === null) throw adminError(404, 'not_found', `no profile '${body.profileId}'`);
          profile = p;
          if (body.computed === undefined) computed = p.computed;
        } else {
          const inline = (body.profile as JsonObject | undefined) ?? {};
          if (inline.traits !== undefined && !isObject(inline.traits)) {
            throw adminError(400, 'bad_request', 'profile.traits: must be an object');
          }
          profile = {
            id: typeof inline.id === 'string' ? inline.id : 'preview',
            traits: (inline.traits as JsonObject | undefined) ?? {},
            ...(Array.isArray(inline.userIds) ? { userIds: inline.userIds as string[] } : {}),
          };
        }
        const outcome = await templates.preview(ws, req.params.key, {
          profile,
          computed,
          event: (body.event as JsonObject | undefined) ?? null,
          journey: (body.journey as JsonObject | undefined) ?? null,
          context: (body.context as JsonObject | undefined) ?? {},
        });
        if (outcome === null) throw notFound(req.params.key);
        if (outcome.kind === 'skipped') {
          return { status: 'skipped', reason: outcome.reason, missing: outcome.missing ?? [] };
        }
        const { channel, ...content } = outcome.content;
        return { status: 'rendered', channel, locale: outcome.locale, content };
      },
    );
  });
}
