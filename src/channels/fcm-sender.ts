import type { PushSettings } from './channel-settings.ts';
import { httpRequest, jsonObject, retryAfterMs, TransportError } from './outbound-http.ts';
import {
  classifyStatus,
  delivered,
  permanent,
  type RenderedMessage,
  retryable,
  type Sender,
  type SendResult,
} from './sender.ts';

/**
 * Mobile push in FCM HTTP v1 shape: one `POST /v1/projects/{project}/messages:send` per device
 * token with a bearer token. Delivered when any device accepted it; retryable only when none did
 * and at least one failure is temporary (so a retry never repeats a delivered device).
 */
export class FcmSender implements Sender<'push'> {
  readonly channel = 'push' as const;

  constructor(private readonly now: () => number = Date.now) {}

  async send(
    rendered: RenderedMessage,
    _idempotencyKey: string,
    settings: PushSettings,
  ): Promise<SendResult> {
    const tokens = rendered.to.pushTokens ?? [];
    if (tokens.length === 0) return permanent('no push token on the profile');
    if (rendered.content.channel !== 'push') return permanent('content is not a push message');
    const c = rendered.content;
    const url = new URL(
      `/v1/projects/${encodeURIComponent(settings.projectId)}/messages:send`,
      settings.baseUrl,
    );
    const results = await Promise.all(
      tokens.map((token) => this.one(url, token, c.title, c.body, c.url, rendered.id, settings)),
    );
    const ok = results.filter((r) => r.kind === 'delivered');
    if (ok.length > 0) return delivered(ok.map((r) => (r as { providerId: string }).providerId).join(' '));
    const retry = results.find((r) => r.kind === 'retryable');
    return retry ?? results[0]!;
  }

  private async one(
    url: URL,
    token: string,
    title: string,
    body: string,
    link: string | undefined,
    messageId: string,
    settings: PushSettings,
  ): Promise<SendResult> {
    const payload = JSON.stringify({
      message: {
        token,
        notification: { title, body },
        data: { message_id: messageId, ...(link !== undefined && link !== '' ? { url: link } : {}) },
      },
    });
    let answer: Awaited<ReturnType<typeof httpRequest>>;
    try {
      answer = await httpRequest(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${settings.accessToken}`,
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(payload),
        },
        body: payload,
        timeoutMs: settings.timeoutMs,
      });
    } catch (e) {
      if (e instanceof TransportError) return retryable(e.message);
      throw e;
    }
    const json = jsonObject(answer.body) as {
      name?: unknown;
      error?: { status?: unknown; message?: unknown };
    } | null;
    const verdict = classifyStatus(answer.status);
    if (verdict === 'ok') {
      if (typeof json?.name !== 'string') {
        return permanent(`FCM answered ${answer.status} with a malformed body; the push may have been sent`);
      }
      return delivered(json.name);
    }
    const status = typeof json?.error?.status === 'string' ? json.error.status : '';
    const why = `FCM ${answer.status}${status ? ` ${status}` : ''}: ${
      typeof json?.error?.message === 'string' ? json.error.message : answer.body.slice(0, 200)
    }`;
    if (verdict === 'retry') return retryable(why, retryAfterMs(answer.headers, this.now()) ?? undefined);
    return permanent(why);
  }
}
