import type { RenderedContent } from '../templates/content.ts';
import type { ChannelSettingsMap } from './channel-settings.ts';
import type { Channel, MessageCategory } from './outbound.ts';

/** A browser push subscription, as `PushManager.subscribe()` returns it. */
export interface WebPushSubscription {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

/** Where a message goes, read from the profile's traits (see `resolveRecipient`). */
export interface Recipient {
  readonly email?: string;
  readonly phone?: string;
  /** FCM registration tokens. */
  readonly pushTokens?: readonly string[];
  readonly webPush?: readonly WebPushSubscription[];
  /** For in-app messages: how the inbox client identifies the person. */
  readonly userId?: string | null;
  readonly anonymousId?: string | null;
}

/** A message rendered for one person, ready for a sender. */
export interface RenderedMessage {
  /** The outbound message id (the idempotency key). */
  readonly id: string;
  readonly workspaceId: string;
  readonly profileId: string;
  readonly channel: Channel;
  readonly template: string;
  readonly category: MessageCategory;
  readonly topic?: string;
  readonly journeyKey?: string;
  readonly locale: string;
  readonly to: Recipient;
  readonly content: RenderedContent;
}

/**
 * What a send came to. `delivered` means the provider accepted it (its id kept for receipts);
 * `retryable` means try again later (a timeout, a 5xx, a 429, a reset connection: the provider may
 * or may not have it, which is why every send carries its idempotency key); `permanent` means
 * retrying cannot help (bad address, refused credentials, a 4xx).
 */
export type SendResult =
  | { readonly kind: 'delivered'; readonly providerId: string }
  | { readonly kind: 'retryable'; readonly reason: string; readonly retryAfterMs?: number }
  | { readonly kind: 'permanent'; readonly reason: string };

/** What a sender tells the one who asked for the send while it is under way. */
export interface SendHooks {
  /**
   * Called (at most once) when the provider holds the whole message and only its final
   * acceptance is left (for SMTP: everything but the closing `.` is written). The caller durably
   * records the message as sent before the promise resolves, and the sender completes the send
   * only then: a crash before it leaves nothing delivered, a crash after it leaves nothing to
   * send again. `providerId` is the id the provider will know it by, when known in advance.
   */
  committing?(providerId: string | null): Promise<void>;
}

/** One channel's adapter to its provider. */
export interface Sender<C extends Channel = Channel> {
  readonly channel: C;
  send(
    rendered: RenderedMessage,
    idempotencyKey: string,
    settings: ChannelSettingsMap[C],
    hooks?: SendHooks,
  ): Promise<SendResult>;
  /** Closes pooled connections. */
  close?(): Promise<void>;
}

export const delivered = (providerId: string): SendResult => ({ kind: 'delivered', providerId });
export const retryable = (reason: string, retryAfterMs?: number): SendResult =>
  retryAfterMs === undefined ? { kind: 'retryable', reason } : { kind: 'retryable', reason, retryAfterMs };
export const permanent = (reason: string): SendResult => ({ kind: 'permanent', reason });

/** How an HTTP status from a provider classifies: 2xx delivered, 408/425/429/5xx retryable, other 4xx permanent. */
export function classifyStatus(status: number): 'ok' | 'retry' | 'fail' {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'retry';
  return 'fail';
}
