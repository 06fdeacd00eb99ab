import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CHANNEL_EVENTS, channelEvent, type EventIdentity } from '../channels/channel-events.ts';
import type { Channels } from '../channels/channels.ts';
import { applySuppression, applyUnsubscribe, CONSENT_TRAIT } from '../channels/consent.ts';
import { BadToken, type FeedbackAction, type FeedbackClaims } from '../channels/feedback-tokens.ts';
import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import { asProfileId, type WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import type { Store } from '../store/port.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError } from './errors.ts';

export interface FeedbackRouteDeps {
  readonly channels: Channels;
  readonly store: Store;
  readonly docs: ApiDocs;
  readonly adminTokenHash: string;
  readonly workspace: WorkspaceId;
  readonly now: () => number;
}

const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const RECEIPT_TYPES = ['delivered', 'bounced', 'complained', 'failed'] as const;
type ReceiptType = (typeof RECEIPT_TYPES)[number];

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(
    title,
  )}</title></head><body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">${body}</body></html>`;

/**
 * Twilio's request signature: base64 HMAC-SHA1, keyed by the auth token, of the full URL followed
 * by every POST parameter's name and value in name order.
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  let data = url;
  for (const k of Object.keys(params).sort()) data += k + params[k];
  return createHmac('sha1', authToken).update(data).digest('base64');
}

/**
 * What comes back from channels: opens, clicks, unsubscribes, SMS replies, delivery receipts,
 * bounces and complaints. Each becomes an ordinary event of the built-in channels source, through
 * the one ingest path; unsubscribes, hard bounces, complaints and `STOP` also update the `consent`
 * trait in the same commit, so suppression applies to the very next send.
 */
export async function feedbackRoutes(app: FastifyInstance, deps: FeedbackRouteDeps): Promise<void> {
  const { channels } = deps;

  const verify = async (token: string, action: FeedbackAction): Promise<FeedbackClaims> => {
    try {
      return await channels.tokens.verify(token, action);
    } catch (e) {
      if (e instanceof BadToken) throw adminError(400, 'bad_token', `invalid ${action} link: ${e.message}`);
      throw e;
    }
  };

  const identityOf = (p: Profile): EventIdentity | null => {
    const userId = p.userIds[0] ?? null;
    const anonymousId = userId === null ? (p.anonymousIds[0] ?? null) : null;
    return userId === null && anonymousId === null ? null : { userId, anonymousId };
  };

  /** Stores events about the token's profile; nothing when the profile is gone (erased). */
  const record = async (
    claims: FeedbackClaims,
    build: (who: EventIdentity, profile: Profile, base: JsonObject) => NormalizedEvent[],
  ): Promise<boolean> => {
    const ws = claims.workspaceId as WorkspaceId;
    const p = await deps.store.getProfile(ws, asProfileId(claims.profileId));
    if (p === null) return false;
    const who = identityOf(p);
    if (who === null) return false;
    const base: JsonObject = {
      channel: claims.channel,
      message_id: claims.messageId,
      template: claims.template,
      ...(claims.topic !== undefined ? { topic: claims.topic } : {}),
      ...(claims.journeyKey !== undefined ? { journey: claims.journeyKey } : {}),
    };
    const events = build(who, p, base);
    if (events.length > 0) await channels.deps.ingest.submit(events);
    return true;
  };
  const ctx = (ws: string) => ({
    workspaceId: ws as WorkspaceId,
    sourceId: channels.sourceId,
    now: deps.now(),
  });

  // Tokens are longer than a route parameter may be, so the routes take the rest of the path.
  await app.register(async (scope) => {
    // Unsubscribe forms and Twilio post form-encoded bodies.
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    scope.addHook('onSend', async (_req, reply, payload) => {
      reply.header('cache-control', 'no-store');
      reply.header('referrer-policy', 'no-referrer');
      return payload;
    });

    scope.get<{ Params: { '*': string } }>('/t/o/*', async (req, reply) => {
      const claims = await verify(req.params['*'], 'open');
      await record(claims, (who, _p, base) => [
        channelEvent(ctx(claims.workspaceId), who, {
          type: 'track',
          event: CHANNEL_EVENTS.emailOpened,
          properties: base,
        }),
      ]);
      return reply.type('image/gif').send(PIXEL);
    });

    scope.get<{ Params: { '*': string } }>('/t/c/*', async (req, reply) => {
      const claims = await verify(req.params['*'], 'click');
      // Only URLs inside a token we signed redirect, and only to http(s): never an open redirect.
      let target: URL;
      try {
        target = new URL(claims.url ?? '');
      } catch {
        throw adminError(400, 'bad_token', 'invalid click link: no target URL');
      }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        throw adminError(400, 'bad_token', 'invalid click link: the target is not an http(s) URL');
      }
      await record(claims, (who, _p, base) => [
        channelEvent(ctx(claims.workspaceId), who, {
          type: 'track',
          event: CHANNEL_EVENTS.emailLinkClicked,
          properties: { ...base, url: target.href },
        }),
      ]);
      return reply.redirect(target.href, 302);
    });

    const unsubscribe = async (claims: FeedbackClaims) =>
      record(claims, (who, p, base) => [
        channelEvent(ctx(claims.workspaceId), who, {
          type: 'identify',
          traits: { [CONSENT_TRAIT]: applyUnsubscribe(p.traits, claims.channel, claims.topic) as JsonObject },
        }),
        channelEvent(ctx(claims.workspaceId), who, {
          type: 'track',
          event: CHANNEL_EVENTS.unsubscribed,
          messageId: `unsubscribe:${claims.messageId}`,
          properties: { ...base, channel: claims.channel, topic: claims.topic ?? null },
        }),
      ]);

    // A GET only asks: mail scanners fetch every link in a message, and must not unsubscribe anyone.
    scope.get<{ Params: { '*': string } }>('/t/u/*', async (req, reply) => {
      const claims = await verify(req.params['*'], 'unsubscribe');
      const what =
        claims.topic !== undefined ? `“${claims.topic}” messages` : `promotional ${claims.channel}`;
      return reply
        .type('text/html; charset=utf-8')
        .send(
          page(
            'Unsubscribe',
            `<h1>Unsubscribe</h1><p>Stop receiving ${escapeHtml(what)}?</p><form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
          ),
        );
    });

    // RFC 8058 one-click: the mail client POSTs `List-Unsubscribe=One-Click`; the form does the same.
    scope.post<{ Params: { '*': string } }>('/t/u/*', async (req, reply) => {
      const claims = await verify(req.params['*'], 'unsubscribe');
      await unsubscribe(claims);
      return reply
        .type('text/html; charset=utf-8')
        .send(
          page(
            'Unsubscribed',
            '<h1>You are unsubscribed</h1><p>You will not receive these messages any more.</p>',
          ),
        );
    });

    const smsSettings = async () => {
      const s = await channels.settings.get(deps.workspace, 'sms');
      if (s === null) throw adminError(404, 'not_found', 'the sms channel is not configured');
      return s;
    };
    const checkTwilio = async (req: FastifyRequest): Promise<Record<string, string>> => {
      const s = await smsSettings();
      if (!isObject(req.body)) throw adminError(400, 'bad_request', 'expected a form-encoded body');
      const params = req.body as Record<string, string>;
      const given = req.headers['x-twilio-signature'];
      const base = s.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.host}`;
      const expected = twilioSignature(s.authToken, `${base}${req.url}`, params);
      const a = Buffer.from(typeof given === 'string' ? given : '');
      const b = Buffer.from(expected);
      if (a.length !== b.length || !timingSafeEqual(a, b)) {
        throw adminError(403, 'forbidden', 'X-Twilio-Signature does not match this request');
      }
      if (params.AccountSid !== undefined && params.AccountSid !== s.accountSid) {
        throw adminError(403, 'forbidden', 'AccountSid is not this workspace’s account');
      }
      return params;
    };
    const twiml = (reply: FastifyReply) =>
      reply.type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');

    /** The profile holding a phone number, or an anonymous one named after it. */
    const byPhone = async (phone: string): Promise<{ who: EventIdentity; profile: Profile | null }> => {
      const p = await deps.store.findProfile(deps.workspace, 'phone', phone);
      const who = p === null ? null : identityOf(p);
      return who !== null
        ? { who, profile: p }
        : { who: { userId: null, anonymousId: `sms:${phone}` }, profile: null };
    };

    scope.post('/t/sms/inbound', async (req, reply) => {
      const params = await checkTwilio(req);
      const from = params.From;
      if (from === undefined || from === '') throw adminError(400, 'bad_request', 'From: is required');
      const text = params.Body ?? '';
      const { who, profile } = await byPhone(from);
      const c = ctx(deps.workspace);
      const events: NormalizedEvent[] = [];
      const keyword = text.trim().toUpperCase();
      const stop = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE'].includes(
        keyword,
      );
      if (stop) {
        events.push(
          channelEvent(c, who, {
            type: 'identify',
            traits: {
              ...(profile === null ? { phone: from } : {}),
              [CONSENT_TRAIT]: applySuppression(profile?.traits ?? {}, 'sms', 'STOP') as JsonObject,
            },
          }),
        );
      }
      events.push(
        channelEvent(c, who, {
          type: 'track',
          event: CHANNEL_EVENTS.smsReceived,
          ...(params.MessageSid ? { messageId: `sms:${params.MessageSid}` } : {}),
          properties: {
            channel: 'sms',
            from,
            to: params.To ?? null,
            body: text,
            provider_id: params.MessageSid ?? null,
          },
        }),
      );
      if (stop) {
        events.push(
          channelEvent(c, who, {
            type: 'track',
            event: CHANNEL_EVENTS.unsubscribed,
            properties: { channel: 'sms', topic: null, keyword },
          }),
        );
      }
      await channels.deps.ingest.submit(events);
      return twiml(reply);
    });

    scope.post<{ Querystring: { t?: string } }>('/t/sms/status', async (req, reply) => {
      const params = await checkTwilio(req);
      const claims = await verify(req.query.t ?? '', 'receipt');
      const status = params.MessageStatus ?? params.SmsStatus ?? '';
      const type: ReceiptType | null =
        status === 'delivered'
          ? 'delivered'
          : status === 'undelivered' || status === 'failed'
            ? 'failed'
            : null;
      if (type !== null) {
        await receipt(claims, type, {
          provider_id: params.MessageSid ?? null,
          status,
          ...(params.ErrorCode ? { error_code: params.ErrorCode } : {}),
        });
      }
      return reply.status(204).send();
    });

    const receipt = (claims: FeedbackClaims, type: ReceiptType, extra: JsonObject) =>
      record(claims, (who, p, base) => {
        const c = ctx(claims.workspaceId);
        const props = { ...base, ...extra };
        switch (type) {
          case 'delivered':
            return [
              channelEvent(c, who, {
                type: 'track',
                event: CHANNEL_EVENTS.messageDelivered,
                properties: props,
              }),
            ];
          case 'failed':
            return [
              channelEvent(c, who, { type: 'track', event: CHANNEL_EVENTS.messageFailed, properties: props }),
            ];
          case 'bounced': {
            const hard = extra.bounce_type !== 'soft';
            const name =
              claims.channel === 'email' ? CHANNEL_EVENTS.emailBounced : CHANNEL_EVENTS.messageFailed;
            return [
              ...(hard
                ? [
                    channelEvent(c, who, {
                      type: 'identify',
                      traits: {
                        [CONSENT_TRAIT]: applySuppression(
                          p.traits,
                          claims.channel,
                          'hard_bounce',
                        ) as JsonObject,
                      },
                    }),
                  ]
                : []),
              channelEvent(c, who, {
                type: 'track',
                event: name,
                properties: { ...props, bounce_type: hard ? 'hard' : 'soft' },
              }),
            ];
          }
          case 'complained':
            return [
              channelEvent(c, who, {
                type: 'identify',
                traits: {
                  [CONSENT_TRAIT]: applySuppression(p.traits, claims.channel, 'complaint') as JsonObject,
                },
              }),
              channelEvent(c, who, {
                type: 'track',
                event: CHANNEL_EVENTS.emailComplained,
                properties: props,
              }),
            ];
        }
      });

    // Delivery receipts, bounces and complaints from any provider, posted by an operator's relay.
    scope.post('/t/receipts', async (req) => {
      checkAdminBearer(req, deps.adminTokenHash);
      const body = req.body;
      if (!isObject(body) || !Array.isArray(body.receipts)) {
        throw adminError(400, 'bad_request', 'receipts: must be an array of {token, type, …}');
      }
      const items = body.receipts as unknown[];
      if (items.length === 0 || items.length > 1000) {
        throw adminError(400, 'bad_request', 'receipts: must hold 1 to 1000 receipts');
      }
      const parsed: { claims: FeedbackClaims; type: ReceiptType; extra: JsonObject }[] = [];
      for (const [i, item] of items.entries()) {
        if (!isObject(item)) throw adminError(400, 'bad_request', `receipts[${i}]: must be an object`);
        if (!(RECEIPT_TYPES as readonly unknown[]).includes(item.type)) {
          throw adminError(
            400,
            'bad_request',
            `receipts[${i}].type: must be one of ${RECEIPT_TYPES.join(', ')}`,
          );
        }
        if (typeof item.token !== 'string') {
          throw adminError(
            400,
            'bad_request',
            `receipts[${i}].token: is required (the X-Concierge-Feedback header of the message)`,
          );
        }
        if (item.bounceType !== undefined && item.bounceType !== 'hard' && item.bounceType !== 'soft') {
          throw adminError(400, 'bad_request', `receipts[${i}].bounceType: must be hard or soft`);
        }
        let claims: FeedbackClaims;
        try {
          claims = await channels.tokens.verify(item.token, 'receipt');
        } catch (e) {
          if (e instanceof BadToken) throw adminError(400, 'bad_token', `receipts[${i}].token: ${e.message}`);
          throw e;
        }
        parsed.push({
          claims,
          type: item.type as ReceiptType,
          extra: {
            ...(typeof item.providerId === 'string' ? { provider_id: item.providerId } : {}),
            ...(typeof item.reason === 'string' ? { reason: item.reason.slice(0, 1000) } : {}),
            ...(item.type === 'bounced'
              ? { bounce_type: (item.bounceType as string | undefined) ?? 'hard' }
              : {}),
          },
        });
      }
      let recorded = 0;
      for (const r of parsed) if (await receipt(r.claims, r.type, r.extra)) recorded++;
      return { received: parsed.length, recorded };
    });
  });

  const none = 'none' as const;
  for (const [method, url, summary] of [
    ['GET', '/t/o/*', 'Open pixel: records `Email Opened`, answers a 1×1 GIF'],
    ['GET', '/t/c/*', 'Click redirect: records `Email Link Clicked`, redirects to the signed URL'],
    ['GET', '/t/u/*', 'Unsubscribe page (asks; does not unsubscribe by itself)'],
    ['POST', '/t/u/*', 'One-click unsubscribe (RFC 8058): records `Unsubscribed`, updates the consent trait'],
    ['POST', '/t/sms/inbound', 'Twilio inbound SMS webhook (signed): `SMS Received`; STOP suppresses SMS'],
    ['POST', '/t/sms/status', 'Twilio status callback (signed): `Message Delivered` / `Message Failed`'],
  ] as const) {
    deps.docs.add({
      method,
      url,
      summary,
      tag: 'Channel feedback',
      auth: none,
      responses: { 200: { description: 'Recorded.' }, 400: { description: 'Tampered or malformed token.' } },
    });
  }
  deps.docs.add({
    method: 'POST',
    url: '/t/receipts',
    summary:
      'Delivery receipts, bounces and complaints: `{receipts:[{token, type: delivered|bounced|complained|failed, bounceType?, reason?, providerId?}]}`',
    tag: 'Channel feedback',
    auth: 'admin',
    responses: {
      200: { description: '`{received, recorded}`' },
      400: { description: 'A bad receipt, named.' },
    },
  });
}
