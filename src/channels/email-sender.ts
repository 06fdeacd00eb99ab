import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { domainToASCII } from 'node:url';
import type { EmailContent } from '../templates/content.ts';
import type { EmailSettings } from './channel-settings.ts';
import type { FeedbackClaims, FeedbackTokens } from './feedback-tokens.ts';
import { addOpenPixel, rewriteLinks } from './html-tracking.ts';
import { composeMime, parseMailbox } from './mime.ts';
import {
  delivered,
  permanent,
  type RenderedMessage,
  retryable,
  type Sender,
  type SendHooks,
  type SendResult,
} from './sender.ts';
import { POOL_SETTINGS, SmtpPool } from './smtp-pool.ts';

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
 * E-mail over SMTP through a pool of connections per distinct connection setting. Every message
 * gets one-click unsubscribe headers (RFC 8058), a Message-ID derived from its idempotency key,
 * and in HTML an open pixel and click redirects, all signed. The message's closing `.` waits for
 * `hooks.committing` (see `SendHooks`), so a crash never delivers one message twice.
 */
export class EmailSender implements Sender<'email'> {
  readonly channel = 'email' as const;
  private readonly pools = new Map<string, SmtpPool>();

  constructor(private readonly tokens: FeedbackTokens) {}

  private pool(s: EmailSettings): SmtpPool {
    const key = JSON.stringify(POOL_SETTINGS.map((k) => s[k]));
    let p = this.pools.get(key);
    if (p === undefined) {
      p = new SmtpPool(s);
      // Settings changed: the pools for older settings close as their connections come back.
      for (const [k, old] of this.pools) {
        old.close();
        this.pools.delete(k);
      }
      this.pools.set(key, p);
    }
    return p;
  }

  async send(
    rendered: RenderedMessage,
    idempotencyKey: string,
    settings: EmailSettings,
    hooks?: SendHooks,
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
    const from = parseMailbox(settings.from);
    if (from === null) return permanent(`the from setting is not one mailbox: ${settings.from}`);
    const replyTo = settings.replyTo !== undefined ? parseMailbox(settings.replyTo) : undefined;
    if (replyTo === null) return permanent(`the replyTo setting is not one mailbox: ${settings.replyTo}`);
    const recipient = asciiAddress(to);
    if (recipient === null) return permanent(`${to} has a non-ASCII local part, which is not supported`);
    let raw: Buffer;
    try {
      raw = composeMime({
        from,
        to: recipient,
        ...(replyTo !== undefined ? { replyTo } : {}),
        subject: content.subject,
        ...(html !== undefined && html.trim() !== '' ? { html } : {}),
        ...(content.text !== undefined && content.text.trim() !== '' ? { text: content.text } : {}),
        messageId,
        date: new Date(),
        headers: [
          ['List-Unsubscribe', `<${links.unsubscribe}>`],
          ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'],
          ['X-Concierge-Message', rendered.id],
          // Bounce and complaint processors send this back to /t/receipts to name the message.
          ['X-Concierge-Feedback', links.receipt],
        ],
      });
    } catch (e) {
      // The message itself cannot be written (a header too long, say): sending again cannot help.
      return permanent(`the message cannot be composed: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      const answer = await this.pool(settings).send(
        { from: from.address, to: [recipient] },
        heldBack(raw, hooks?.committing ? () => hooks.committing!(messageId) : null),
      );
      if (answer.rejected.length > 0 || answer.accepted.length === 0)
        return permanent(`the server rejected ${to}`);
      return delivered(messageId);
    } catch (e) {
      return classifySmtpError(e);
    }
  }

  async close(): Promise<void> {
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
  }
}

/** The address with its domain in ASCII (IDNA); null when the local part is not ASCII. */
function asciiAddress(address: string): string | null {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  if (!/^[\x21-\x7e]+$/.test(local)) return null;
  const domain = address.slice(at + 1);
  if (/^[\x21-\x7e]+$/.test(domain)) return address;
  const ascii = domainToASCII(domain);
  return ascii === '' ? null : `${local}@${ascii}`;
}

/**
 * The message as a stream the SMTP connection reads once `DATA` is accepted: all of it at once,
 * then its end — which makes the connection write the closing `.` — only after `before` resolved.
 */
function heldBack(raw: Buffer, before: (() => Promise<void>) | null): Readable {
  let stage = 0;
  return new Readable({
    highWaterMark: 0,
    read() {
      if (stage === 0) {
        stage = 1;
        this.push(raw);
      } else if (stage === 1) {
        stage = 2;
        if (before === null) this.push(null);
        else
          before().then(
            () => this.push(null),
            (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
          );
      }
    },
  });
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
