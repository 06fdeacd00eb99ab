import { createHash } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { EmailContent } from '../templates/content.ts';
import type { EmailSettings } from './channel-settings.ts';
import type { FeedbackClaims, FeedbackTokens } from './feedback-tokens.ts';
import { addOpenPixel, rewriteLinks } from './html-tracking.ts';
import {
  delivered,
  permanent,
  type RenderedMessage,
  retryable,
  type Sender,
  type SendResult,
} from './sender.ts';

const EMAIL = /^[^\s@<>()]+@[^\s@<>()]+\.[^\s@<>()]+$/;

/** The Message-ID of a send: the same for every retry of one message, so receivers can de-duplicate. */
export function messageIdFor(idempotencyKey: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)/.exec(from)?.[1] ?? 'concierge.invalid';
  return `<${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}@${domain}>`;
}

/** The base of every feedback URL: the configured public URL without a trailing slash. */
export const feedbackBase = (publicUrl: string): string => publicUrl.replace(/\/+$/, '');

/** The signed links one message carries. */
export function feedbackLinks(
  sign: (claims: FeedbackClaims) => string,
  publicUrl: string,
  rendered: Pick<
    RenderedMessage,
    'id' | 'workspaceId' | 'profileId' | 'channel' | 'template' | 'topic' | 'journeyKey'
  >,
): { unsubscribe: string; open: string; click: (url: string) => string; receipt: string } {
  const base = feedbackBase(publicUrl);
  const claims = {
    workspaceId: rendered.workspaceId,
    messageId: rendered.id,
    profileId: rendered.profileId,
    channel: rendered.channel,
    template: rendered.template,
    ...(rendered.topic !== undefined ? { topic: rendered.topic } : {}),
    ...(rendered.journeyKey !== undefined ? { journeyKey: rendered.journeyKey } : {}),
  };
  return {
    unsubscribe: `${base}/t/u/${sign({ ...claims, action: 'unsubscribe' })}`,
    open: `${base}/t/o/${sign({ ...claims, action: 'open' })}`,
    click: (url) => `${base}/t/c/${sign({ ...claims, action: 'click', url })}`,
    receipt: sign({ ...claims, action: 'receipt' }),
  };
}

/**
 * E-mail over SMTP through a nodemailer pool per distinct connection setting. Every message gets
 * one-click unsubscribe headers (RFC 8058), a Message-ID derived from its idempotency key, and in
 * HTML an open pixel and click redirects, all signed.
 */
export class EmailSender implements Sender<'email'> {
  readonly channel = 'email' as const;
  private readonly pools = new Map<string, Transporter<SMTPPool.SentMessageInfo>>();

  constructor(private readonly tokens: FeedbackTokens) {}

  private pool(s: EmailSettings): Transporter<SMTPPool.SentMessageInfo> {
    const key = JSON.stringify([
      s.host,
      s.port,
      s.secure,
      s.ignoreTLS,
      s.rejectUnauthorized,
      s.user,
      s.password,
      s.maxConnections,
      s.maxMessages,
    ]);
    let t = this.pools.get(key);
    if (t === undefined) {
      t = nodemailer.createTransport({
        pool: true,
        host: s.host,
        port: s.port,
        secure: s.secure,
        ignoreTLS: s.ignoreTLS,
        tls: { rejectUnauthorized: s.rejectUnauthorized },
        ...(s.user !== undefined ? { auth: { user: s.user, pass: s.password ?? '' } } : {}),
        maxConnections: s.maxConnections,
        maxMessages: s.maxMessages,
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 60_000,
      });
      // Settings changed: the pools for older settings are closed once idle.
      for (const [k, old] of this.pools) {
        old.close();
        this.pools.delete(k);
      }
      this.pools.set(key, t);
    }
    return t;
  }

  async send(
    rendered: RenderedMessage,
    idempotencyKey: string,
    settings: EmailSettings,
  ): Promise<SendResult> {
    const to = rendered.to.email;
    if (to === undefined || !EMAIL.test(to)) return permanent(`no valid e-mail address (${to ?? 'none'})`);
    if (rendered.content.channel !== 'email') return permanent('content is not an e-mail');
    const content: EmailContent = rendered.content;
    const links = feedbackLinks(await this.tokens.signer(rendered.workspaceId), settings.publicUrl, rendered);
    let html = content.html;
    if (html !== undefined && html.trim() !== '') {
      const base = `${feedbackBase(settings.publicUrl)}/t/`;
      if (settings.trackClicks) html = rewriteLinks(html, links.click, (u) => u.startsWith(base));
      if (settings.trackOpens) html = addOpenPixel(html, links.open);
    }
    const messageId = messageIdFor(idempotencyKey, settings.from);
    try {
      const info = await this.pool(settings).sendMail({
        from: settings.from,
        to,
        subject: content.subject,
        ...(html !== undefined && html.trim() !== '' ? { html } : {}),
        ...(content.text !== undefined && content.text.trim() !== '' ? { text: content.text } : {}),
        ...(settings.replyTo !== undefined ? { replyTo: settings.replyTo } : {}),
        messageId,
        headers: {
          'List-Unsubscribe': `<${links.unsubscribe}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'X-Concierge-Message': rendered.id,
          // Bounce and complaint processors send this back to /t/receipts to name the message.
          'X-Concierge-Feedback': links.receipt,
        },
      });
      if (info.rejected.length > 0) return permanent(`the server rejected ${to}`);
      return delivered(info.messageId ?? messageId);
    } catch (e) {
      return classifySmtpError(e);
    }
  }

  async close(): Promise<void> {
    for (const t of this.pools.values()) t.close();
    this.pools.clear();
  }
}

/** 4xx replies and broken connections are worth retrying; 5xx replies are final. */
export function classifySmtpError(e: unknown): SendResult {
  const err = e as { responseCode?: number; code?: string; message?: string; response?: string };
  const what = (err.response ?? err.message ?? String(e)).slice(0, 300);
  if (typeof err.responseCode === 'number') {
    if (err.responseCode >= 500) return permanent(`SMTP ${err.responseCode}: ${what}`);
    return retryable(`SMTP ${err.responseCode}: ${what}`);
  }
  if (err.code === 'EENVELOPE' || err.code === 'EMESSAGE') return permanent(what);
  if (err.code === 'EAUTH') return permanent(`SMTP authentication failed: ${what}`);
  return retryable(`${err.code ?? 'error'}: ${what}`);
}
