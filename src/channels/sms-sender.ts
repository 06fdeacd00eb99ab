import type { SmsSettings } from './channel-settings.ts';
import type { FeedbackTokens } from './feedback-tokens.ts';
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

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * SMS through Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded,
 * HTTP Basic with the account SID and auth token). The base URL is configurable, so any provider
 * or test peer speaking the same shape works.
 */
export class SmsSender implements Sender<'sms'> {
  readonly channel = 'sms' as const;

  constructor(
    private readonly tokens: FeedbackTokens,
    private readonly now: () => number = Date.now,
  ) {}

  async send(rendered: RenderedMessage, idempotencyKey: string, settings: SmsSettings): Promise<SendResult> {
    const to = rendered.to.phone?.replace(/[\s().-]/g, '');
    if (to === undefined || !E164.test(to))
      return permanent(`no valid phone number (${rendered.to.phone ?? 'none'})`);
    if (rendered.content.channel !== 'sms') return permanent('content is not an SMS');
    const form = new URLSearchParams({ To: to, Body: rendered.content.text });
    if (settings.messagingServiceSid !== undefined)
      form.set('MessagingServiceSid', settings.messagingServiceSid);
    else form.set('From', settings.from!);
    if (settings.publicUrl !== undefined) {
      // The receipt token in the callback URL names the message, profile and journey it is about.
      const token = await this.tokens.sign({
        action: 'receipt',
        workspaceId: rendered.workspaceId,
        messageId: rendered.id,
        profileId: rendered.profileId,
        channel: 'sms',
        template: rendered.template,
        ...(rendered.topic !== undefined ? { topic: rendered.topic } : {}),
        ...(rendered.journeyKey !== undefined ? { journeyKey: rendered.journeyKey } : {}),
      });
      form.set('StatusCallback', `${settings.publicUrl.replace(/\/+$/, '')}/t/sms/status?t=${token}`);
    }
    const body = form.toString();
    const url = new URL(
      `/2010-04-01/Accounts/${encodeURIComponent(settings.accountSid)}/Messages.json`,
      settings.baseUrl,
    );
    let answer: Awaited<ReturnType<typeof httpRequest>>;
    try {
      answer = await httpRequest(url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          accept: 'application/json',
          'i-twilio-idempotency-token': idempotencyKey,
        },
        body,
        timeoutMs: settings.timeoutMs,
      });
    } catch (e) {
      if (e instanceof TransportError) return retryable(e.message);
      throw e;
    }
    const verdict = classifyStatus(answer.status);
    const json = jsonObject(answer.body) as { sid?: unknown; message?: unknown; code?: unknown } | null;
    if (verdict === 'ok') {
      if (json === null || typeof json.sid !== 'string') {
        // Accepted but unreadable: it may well have gone out, so retrying could send it twice.
        return permanent(
          `provider answered ${answer.status} with a malformed body; the SMS may have been sent`,
        );
      }
      return delivered(json.sid);
    }
    const why = `HTTP ${answer.status}${json?.code !== undefined ? ` (code ${String(json.code)})` : ''}: ${
      typeof json?.message === 'string' ? json.message : answer.body.slice(0, 200)
    }`;
    if (verdict === 'retry') return retryable(why, retryAfterMs(answer.headers, this.now()) ?? undefined);
    return permanent(why);
  }
}
