import type { Channel } from '../channels/outbound.ts';

/**
 * What a template holds for one locale, by channel. Every string is Liquid source; the webhook
 * body is any JSON value whose string leaves are Liquid source (so its output is always valid
 * JSON, whatever the profile holds).
 */
export interface EmailContent {
  readonly subject: string;
  readonly html?: string;
  readonly text?: string;
}
export interface SmsContent {
  readonly text: string;
}
export interface PushContent {
  readonly title: string;
  readonly body: string;
  readonly url?: string;
}
export interface WebhookContent {
  /** Overrides the workspace's webhook URL (still subject to the outbound address rules). */
  readonly url?: string;
  readonly body: unknown;
}
export interface InAppContent {
  readonly title: string;
  readonly body: string;
  readonly url?: string;
}

export interface ContentByChannel {
  email: EmailContent;
  sms: SmsContent;
  push: PushContent;
  webpush: PushContent;
  webhook: WebhookContent;
  inapp: InAppContent;
}

/** The fields each channel's content has: required ones, then optional ones. */
export const CONTENT_FIELDS: { readonly [C in Channel]: { required: string[]; optional: string[] } } = {
  email: { required: ['subject'], optional: ['html', 'text'] },
  sms: { required: ['text'], optional: [] },
  push: { required: ['title', 'body'], optional: ['url'] },
  webpush: { required: ['title', 'body'], optional: ['url'] },
  webhook: { required: ['body'], optional: ['url'] },
  inapp: { required: ['title', 'body'], optional: ['url'] },
};

/** Rendered content, tagged by channel. */
export type RenderedContent = { [C in Channel]: { readonly channel: C } & ContentByChannel[C] }[Channel];
