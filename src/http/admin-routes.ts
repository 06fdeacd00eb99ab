import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asProfileId, type ProfileId, type WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import {
  type IdentitySettings,
  IdentitySettingsPatch,
  InvalidIdentitySettingsError,
} from '../ingest/identity-settings.ts';
import type { SourceDirectory } from '../ingest/sources.ts';
import type { Store } from '../store/port.ts';
import { parseCursor } from '../store/rows.ts';
import type { ApiDocs, RouteDoc } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError } from './errors.ts';

export interface AdminDeps {
  readonly store: Store;
  readonly identity: IdentitySettings;
  readonly sources: SourceDirectory;
  readonly docs: ApiDocs;
  readonly workspace: WorkspaceId;
  /** SHA-256 of the admin token. */
  readonly adminTokenHash: string;
  /** Fills in what the store does not hold (segments, computed traits). */
  readonly decorate?: (p: Profile) => Promise<Profile>;
  /** Told of each erased profile. */
  readonly erased?: (id: ProfileId) => void | Promise<void>;
  /** More to show on `/api/status`. */
  readonly status?: () => Promise<Record<string, unknown>>;
}

/** Registers a route and its documentation; the schemas validate the request. */
export const documentedRoute =
  (scope: FastifyInstance, docs: ApiDocs) =>
  <P, Q, B>(
    doc: RouteDoc,
    handler: (
      req: FastifyRequest<{ Params: P; Querystring: Q; Body: B }>,
      reply: FastifyReply,
    ) => Promise<unknown>,
  ) => {
    docs.add(doc);
    scope.route<{ Params: P; Querystring: Q; Body: B }>({
      method: doc.method,
      url: doc.url,
      schema: {
        ...(doc.params ? { params: doc.params } : {}),
        ...(doc.querystring ? { querystring: doc.querystring } : {}),
        ...(doc.body ? { body: doc.body } : {}),
      },
      handler,
    });
  };

const ProfileShape = Type.Object(
  {
    id: Type.String(),
    userIds: Type.Array(Type.String()),
    anonymousIds: Type.Array(Type.String()),
    identifiers: Type.Record(Type.String(), Type.Array(Type.String()), {
      description: 'Other identifiers by kind (identifier traits such as email).',
    }),
    traits: Type.Object({}, { additionalProperties: true }),
    computed: Type.Object({}, { additionalProperties: true }),
    segments: Type.Array(Type.String()),
    consent: Type.Object({}, { additionalProperties: true }),
    groups: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A unified profile.' },
);
const ErrorShape = Type.Object({ error: Type.String(), message: Type.String() });
const IdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200, description: 'Profile id.' }),
});
const LookupQuery = Type.Object({
  userId: Type.Optional(Type.String({ minLength: 1 })),
  anonymousId: Type.Optional(Type.String({ minLength: 1 })),
  email: Type.Optional(Type.String({ minLength: 1 })),
});
const EventsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  before: Type.Optional(
    Type.String({ description: 'An ISO 8601 time, or the `cursor` of the previous page.', minLength: 1 }),
  ),
});
const SourceBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });

/** The admin API for profiles and sources. */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { store, workspace: ws } = deps;

  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => checkAdminBearer(req, deps.adminTokenHash));

    const route = documentedRoute(scope, deps.docs);
    const decorate = deps.decorate ?? (async (p: Profile) => p);
    const notFound = (id: string) => adminError(404, 'not_found', `no profile with id '${id}'`);
    const common = { 401: { description: 'Missing or wrong admin token.', schema: ErrorShape } };

    route<unknown, Static<typeof LookupQuery>, unknown>(
      {
        method: 'GET',
        url: '/api/profiles',
        summary: 'Find the profile holding a userId, anonymousId or email',
        tag: 'Profiles',
        auth: 'admin',
        querystring: LookupQuery,
        responses: {
          200: { description: 'The profile.', schema: ProfileShape },
          400: { description: 'No identifier given.', schema: ErrorShape },
          404: { description: 'No such profile.', schema: ErrorShape },
          ...common,
        },
      },
      async (req) => {
        const q = req.query as Record<string, string | undefined>;
        // Any identifier trait of the workspace (email by default, phone if configured…) works too.
        const traitKind = deps.identity.get(ws).identifierTraits.find((t) => typeof q[t] === 'string');
        const [kind, value] =
          q.userId !== undefined
            ? ['user_id', q.userId]
            : q.anonymousId !== undefined
              ? ['anonymous_id', q.anonymousId]
              : q.email !== undefined
                ? ['email', q.email]
                : traitKind !== undefined
                  ? [traitKind, q[traitKind]]
                  : [null, undefined];
        if (kind === null || value === undefined) {
          throw adminError(
            400,
            'bad_request',
            'give one of userId, anonymousId, email or another identifier trait',
          );
        }
        const p = await store.findProfile(ws, kind, value);
        if (!p) throw adminError(404, 'not_found', `no profile with ${Object.keys(q)[0]} '${value}'`);
        return decorate(p);
      },
    );

    route<Static<typeof IdParams>, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/profiles/:id',
        summary: 'A profile by id (ids of merged profiles lead to the surviving one)',
        tag: 'Profiles',
        auth: 'admin',
        params: IdParams,
        responses: {
          200: { description: 'The profile.', schema: ProfileShape },
          404: { description: 'No such profile.' },
          ...common,
        },
      },
      async (req) =>
        decorate(
          (await store.getProfile(ws, asProfileId(req.params.id))) ??
            (await Promise.reject(notFound(req.params.id))),
        ),
    );

    route<Static<typeof IdParams>, Static<typeof EventsQuery>, unknown>(
      {
        method: 'GET',
        url: '/api/profiles/:id/events',
        summary: 'The profile’s events, newest first',
        tag: 'Profiles',
        auth: 'admin',
        params: IdParams,
        querystring: EventsQuery,
        responses: {
          200: {
            description: '`events` newest first; `cursor` reads the next page when there is one.',
            schema: Type.Object({
              events: Type.Array(Type.Object({}, { additionalProperties: true })),
              cursor: Type.Union([Type.String(), Type.Null()]),
            }),
          },
          404: { description: 'No such profile.' },
          ...common,
        },
      },
      async (req) => {
        const id = asProfileId(req.params.id);
        if (!(await store.getProfile(ws, id))) throw notFound(id);
        let before = null;
        if (req.query.before !== undefined) {
          before = parseCursor(req.query.before);
          if (!before)
            throw adminError(
              400,
              'bad_request',
              `before must be an ISO 8601 time or a cursor, got '${req.query.before}'`,
            );
        }
        const page = await store.listEvents(ws, id, req.query.limit ?? 50, before);
        return {
          events: page.events.map((e) => ({ ...e.body, profileId: e.profileId, sourceId: e.sourceId })),
          cursor: page.cursor,
        };
      },
    );

    route<Static<typeof IdParams>, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/profiles/:id/export',
        summary: 'Everything held on the person (data-subject access request)',
        tag: 'Profiles',
        auth: 'admin',
        params: IdParams,
        responses: {
          200: { description: 'Profile, merged ids, groups and every event.' },
          404: { description: 'No such profile.' },
          ...common,
        },
      },
      async (req) => {
        const x = await store.exportProfile(ws, asProfileId(req.params.id));
        if (!x) throw notFound(req.params.id);
        return {
          ...x,
          profile: await decorate(x.profile),
          events: x.events.map((e) => e.body),
          exportedAt: new Date().toISOString(),
        };
      },
    );

    route<Static<typeof IdParams>, unknown, unknown>(
      {
        method: 'DELETE',
        url: '/api/profiles/:id',
        summary: 'Erase the person: events, traits and identifiers are removed',
        tag: 'Profiles',
        auth: 'admin',
        params: IdParams,
        responses: {
          200: { description: 'What was removed.' },
          404: { description: 'No such profile.' },
          ...common,
        },
      },
      async (req) => {
        const r = await store.eraseProfile(ws, asProfileId(req.params.id));
        if (!r) throw notFound(req.params.id);
        await deps.erased?.(r.profileId);
        return { erased: true, ...r };
      },
    );

    route<unknown, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/sources',
        summary: 'List sources (write keys are never shown again after creation)',
        tag: 'Sources',
        auth: 'admin',
        responses: { 200: { description: 'Sources.' }, ...common },
      },
      async () => ({ sources: await store.listSources(ws) }),
    );

    route<unknown, unknown, Static<typeof SourceBody>>(
      {
        method: 'POST',
        url: '/api/sources',
        summary: 'Create a source and its write key (shown once)',
        tag: 'Sources',
        auth: 'admin',
        body: SourceBody,
        responses: { 200: { description: 'The source with its write key.' }, ...common },
      },
      async (req) => {
        const { source, writeKey } = await deps.sources.create(ws, req.body.name);
        return { ...source, writeKey };
      },
    );

    const IdentityShape = Type.Object({
      identifierTraits: Type.Array(Type.String()),
      maxUserIdsPerProfile: Type.Integer(),
    });
    route<unknown, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/settings/identity',
        summary: 'The workspace’s identity rules: identifier traits and the user-id limit',
        tag: 'Settings',
        auth: 'admin',
        responses: { 200: { description: 'The rules in force.', schema: IdentityShape }, ...common },
      },
      async () => deps.identity.get(ws),
    );

    route<unknown, unknown, Static<typeof IdentitySettingsPatch>>(
      {
        method: 'PUT',
        url: '/api/settings/identity',
        summary: 'Change the identity rules; they apply to events received from now on',
        tag: 'Settings',
        auth: 'admin',
        body: IdentitySettingsPatch,
        responses: {
          200: { description: 'The rules now in force.', schema: IdentityShape },
          400: { description: 'A value that cannot be used.', schema: ErrorShape },
          ...common,
        },
      },
      async (req) => {
        try {
          return await deps.identity.update(ws, req.body);
        } catch (err) {
          if (err instanceof InvalidIdentitySettingsError) throw adminError(400, 'bad_request', err.message);
          throw err;
        }
      },
    );

    route<unknown, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/status',
        summary: 'Counts of stored events and profiles',
        tag: 'Operations',
        auth: 'admin',
        responses: { 200: { description: 'Counts.' }, ...common },
      },
      async () => ({ store: store.kind, ...(await store.counts(ws)), ...(await deps.status?.()) }),
    );
  });
}
