import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ChannelSettingsMap, InvalidSettings, maskSettings } from '../channels/channel-settings.ts';
import { Channels, type ChannelsDeps } from '../channels/channels.ts';
import { CHANNELS, type Channel } from '../channels/outbound.ts';
import type { JsonObject } from '../core/event.ts';
import type { WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import type { SourceRecord } from '../store/port.ts';
import { documentedRoute } from './admin-routes.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError, HttpError, trackingError } from './errors.ts';
import { acceptYamlBodies } from './yaml-bodies.ts';

export interface ChannelRouteDeps extends ChannelsDeps {
  readonly docs: ApiDocs;
  readonly adminTokenHash: string;
}

const ChannelParams = Type.Object({
  channel: Type.String({ description: `One of ${CHANNELS.join(', ')}.` }),
});
const ErrorShape = Type.Object({ error: Type.String(), message: Type.String() });
const InvalidShape = Type.Object({
  error: Type.Literal('invalid_settings'),
  message: Type.String(),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});
const InboxQuery = Type.Object({
  userId: Type.Optional(Type.String({ minLength: 1 })),
  anonymousId: Type.Optional(Type.String({ minLength: 1 })),
});

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function channelOf(raw: string): Channel {
  if (!(CHANNELS as readonly string[]).includes(raw)) {
    throw adminError(400, 'bad_request', `channel: '${raw}' is not one of ${CHANNELS.join(', ')}`);
  }
  return raw as Channel;
}

function basicWriteKey(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h || !/^basic /i.test(h)) return null;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return (
    (colon < 0 ? decoded : decoded.slice(0, colon)) || (colon < 0 ? '' : decoded.slice(colon + 1)) || null
  );
}

/**
 * Opens the delivery side (`Channels`) and registers its admin API — channel settings with secrets
 * masked, webhook dead letters — and the inbox API clients call with a write key. Returns the
 * `Channels`, for the dispatcher.
 */
export async function channelRoutes(app: FastifyInstance, deps: ChannelRouteDeps): Promise<Channels> {
  const channels = await Channels.open(deps);
  const ws = deps.workspace;
  app.addHook('onClose', async () => channels.close());

  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => checkAdminBearer(req, deps.adminTokenHash));
    acceptYamlBodies(scope);
    const route = documentedRoute(scope, deps.docs);
    const common = { 401: { description: 'Missing or wrong admin token.', schema: ErrorShape } };
    const tag = 'Channels';
    const view = (channel: Channel, s: object | null) => ({
      channel,
      configured: s !== null,
      settings: s === null ? null : maskSettings(channel, s),
    });

    route<unknown, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/channels',
        summary: 'Every channel with its settings (secrets masked)',
        tag,
        auth: 'admin',
        responses: { 200: { description: '`{channels:[{channel, configured, settings}]}`' }, ...common },
      },
      async () => ({
        channels: await Promise.all(CHANNELS.map(async (c) => view(c, await channels.settings.get(ws, c)))),
      }),
    );

    route<Static<typeof ChannelParams>, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/channels/:channel',
        summary: "A channel's provider settings; secrets are never returned (shown as ********)",
        tag,
        auth: 'admin',
        params: ChannelParams,
        responses: { 200: { description: '`{channel, configured, settings}`' }, ...common },
      },
      async (req) => {
        const c = channelOf(req.params.channel);
        return view(c, await channels.settings.get(ws, c));
      },
    );

    route<Static<typeof ChannelParams>, unknown, unknown>(
      {
        method: 'PUT',
        url: '/api/channels/:channel',
        summary:
          "Set a channel's provider settings (JSON or YAML); a secret left out or sent as ******** is kept",
        tag,
        auth: 'admin',
        params: ChannelParams,
        responses: {
          200: { description: 'The stored settings, secrets masked.' },
          400: { description: 'Not valid; every bad field is named.', schema: InvalidShape },
          ...common,
        },
      },
      async (req) => {
        const c = channelOf(req.params.channel);
        try {
          const stored = await channels.settings.put(ws, c, req.body ?? null);
          return view(c, stored as ChannelSettingsMap[Channel]);
        } catch (e) {
          if (e instanceof InvalidSettings) {
            throw new HttpError(400, {
              error: 'invalid_settings',
              message: `the ${c} settings are not valid: ${e.message}`,
              errors: e.errors,
            });
          }
          throw e;
        }
      },
    );

    route<Static<typeof ChannelParams>, unknown, unknown>(
      {
        method: 'DELETE',
        url: '/api/channels/:channel',
        summary: "Remove a channel's settings (its messages then fail as not configured)",
        tag,
        auth: 'admin',
        params: ChannelParams,
        responses: { 200: { description: 'Removed.' }, 404: { description: 'Not configured.' }, ...common },
      },
      async (req) => {
        const c = channelOf(req.params.channel);
        if (!(await channels.settings.delete(ws, c)))
          throw adminError(404, 'not_found', `${c} is not configured`);
        return { channel: c, deleted: true };
      },
    );

    route<unknown, unknown, unknown>(
      {
        method: 'GET',
        url: '/api/channels/webhook/dead-letters',
        summary: 'Webhooks that failed every attempt (newest first, at most 1,000)',
        tag,
        auth: 'admin',
        responses: { 200: { description: '`{deadLetters:[…]}`' }, ...common },
      },
      async () => ({ deadLetters: await channels.deadLetters.list(ws) }),
    );
  });

  // The inbox API: called by apps with the source's write key, like the tracking API.
  await app.register(async (scope) => {
    const cors = { 'access-control-allow-origin': '*' };
    scope.addHook('onRequest', async (_req, reply) => {
      reply.headers(cors);
    });
    scope.options('/v1/inbox', async (_req, reply) =>
      reply
        .header('access-control-allow-methods', 'GET, OPTIONS')
        .header('access-control-allow-headers', 'Authorization')
        .status(204)
        .send(),
    );
    scope.options('/v1/inbox/read', async (_req, reply) =>
      reply
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'Content-Type, Authorization')
        .status(204)
        .send(),
    );
    const authenticate = async (req: FastifyRequest): Promise<SourceRecord> => {
      const key = basicWriteKey(req);
      if (key === null) {
        throw trackingError(401, [
          { path: '', message: 'missing write key: use HTTP Basic auth with the write key' },
        ]);
      }
      const source = await deps.sources.byWriteKey(key);
      if (source === null) throw trackingError(401, [{ path: '', message: 'unknown write key' }]);
      return source;
    };
    const who = (q: { userId?: unknown; anonymousId?: unknown }) => {
      const userId = typeof q.userId === 'string' && q.userId !== '' ? q.userId : null;
      const anonymousId = typeof q.anonymousId === 'string' && q.anonymousId !== '' ? q.anonymousId : null;
      if (userId === null && anonymousId === null) {
        throw trackingError(400, [{ path: 'userId', message: 'userId or anonymousId is required' }]);
      }
      return { userId, anonymousId };
    };
    const profileOf = async (w: WorkspaceId, id: { userId: string | null; anonymousId: string | null }) => {
      let p: Profile | null = null;
      if (id.userId !== null) p = await deps.store.findProfile(w, 'user_id', id.userId);
      if (p === null && id.anonymousId !== null)
        p = await deps.store.findProfile(w, 'anonymous_id', id.anonymousId);
      return p;
    };

    scope.get<{ Querystring: Static<typeof InboxQuery> }>(
      '/v1/inbox',
      { schema: { querystring: InboxQuery } },
      async (req) => {
        const source = await authenticate(req);
        const id = who(req.query);
        const p = await profileOf(source.workspaceId, id);
        if (p === null) return { messages: [], unread: 0 };
        const settings = (await channels.settings.get(source.workspaceId, 'inapp'))!;
        const messages = await channels.inbox.list(source.workspaceId, p, settings);
        return { messages, unread: messages.filter((m) => !m.read).length };
      },
    );
    deps.docs.add({
      method: 'GET',
      url: '/v1/inbox',
      summary: "A person's in-app inbox, newest first (write key; identify with userId or anonymousId)",
      tag: 'Inbox',
      auth: 'writeKey',
      querystring: InboxQuery,
      responses: { 200: { description: '`{messages:[{id,title,body,url,createdAt,read}], unread}`' } },
    });

    scope.post('/v1/inbox/read', async (req) => {
      const source = await authenticate(req);
      const body = req.body;
      if (!isObject(body)) throw trackingError(400, [{ path: '', message: 'body must be a JSON object' }]);
      const id = who(body);
      const ids = body.messageIds;
      if (
        !Array.isArray(ids) ||
        ids.length === 0 ||
        ids.length > 1000 ||
        !ids.every((x) => typeof x === 'string')
      ) {
        throw trackingError(400, [
          { path: 'messageIds', message: 'must be a non-empty array of at most 1000 message ids' },
        ]);
      }
      await channels.inbox.markRead(source.workspaceId, id, ids as string[]);
      return { success: true };
    });
    deps.docs.add({
      method: 'POST',
      url: '/v1/inbox/read',
      summary: 'Mark inbox messages read: `{userId|anonymousId, messageIds:[…]}`',
      tag: 'Inbox',
      auth: 'writeKey',
      responses: { 200: { description: '`{success:true}` once stored.' } },
    });
  });

  return channels;
}
