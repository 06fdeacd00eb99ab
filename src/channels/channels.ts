import type { JsonObject } from '../core/event.ts';
import { asProfileId, asSourceId, type SourceId, type WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { SourceDirectory } from '../ingest/sources.ts';
import type { Store } from '../store/port.ts';
import { type TemplateProfile, TemplateService } from '../templates/template-service.ts';
import { type ChannelSettingsMap, ChannelSettingsStore } from './channel-settings.ts';
import { EmailSender, feedbackLinks } from './email-sender.ts';
import { FcmSender } from './fcm-sender.ts';
import { FeedbackTokens } from './feedback-tokens.ts';
import { InAppSender, Inbox } from './inbox.ts';
import type { Channel, OutboundMessage } from './outbound.ts';
import { resolveRecipient } from './recipient.ts';
import { permanent, type RenderedMessage, type Sender, type SendHooks, type SendResult } from './sender.ts';
import { SmsSender } from './sms-sender.ts';
import { DeadLetters, WebhookSender } from './webhook-sender.ts';
import { WebPushSender } from './webpush-sender.ts';

/** The settings key holding the id of the built-in channels source. */
export const CHANNELS_SOURCE_SETTING = 'channels_source_id';
export const CHANNELS_SOURCE_NAME = 'Channels (built in)';

export interface ChannelsDeps {
  readonly store: Store;
  readonly ingest: IngestService;
  readonly sources: SourceDirectory;
  readonly workspace: WorkspaceId;
  readonly now: () => number;
  /** The profile with its computed traits (default: the store's profile). */
  readonly loadProfile?: (ws: WorkspaceId, id: string) => Promise<Profile | null>;
  /** Replaces senders (e.g. a webhook sender with a test clock). */
  readonly senders?: Partial<{ [C in Channel]: Sender<C> }>;
}

/** What delivering one outbound message came to. */
export type DeliveryOutcome =
  | SendResult
  | { readonly kind: 'skipped'; readonly reason: string; readonly missing?: readonly string[] };

/** The profile as delivery needs it. */
export interface DeliveryProfile extends TemplateProfile {
  readonly computed?: JsonObject;
}

/**
 * Everything on the delivery side, for one process: templates, channel settings, one sender per
 * channel, the signing of feedback links, the in-app inbox and the webhook dead letters. The
 * dispatcher calls `deliver` (render, address, send) after the guardrails allowed a message.
 */
export class Channels {
  readonly settings: ChannelSettingsStore;
  readonly tokens: FeedbackTokens;
  readonly deadLetters: DeadLetters;
  readonly inbox: Inbox;
  readonly templates: TemplateService;
  readonly senders: { readonly [C in Channel]: Sender<C> };

  private constructor(
    readonly deps: ChannelsDeps,
    /** The built-in source feedback events are stored under. */
    readonly sourceId: SourceId,
  ) {
    this.settings = new ChannelSettingsStore(deps.store);
    this.tokens = new FeedbackTokens(deps.store);
    this.deadLetters = new DeadLetters(deps.store);
    this.inbox = new Inbox({ store: deps.store, ingest: deps.ingest, source: () => sourceId, now: deps.now });
    this.templates = new TemplateService({
      store: deps.store,
      now: deps.now,
      links: (m) => this.links(m),
    });
    this.senders = {
      email: new EmailSender(this.tokens),
      sms: new SmsSender(this.tokens, deps.now),
      push: new FcmSender(deps.now),
      webpush: new WebPushSender(deps.now),
      webhook: new WebhookSender({ deadLetters: this.deadLetters, now: deps.now }),
      inapp: new InAppSender(this.inbox),
      ...deps.senders,
    };
  }

  /** Opens the delivery side, creating the built-in `Channels (built in)` source on first start. */
  static async open(deps: ChannelsDeps): Promise<Channels> {
    let source = await deps.store.getSetting(deps.workspace, CHANNELS_SOURCE_SETTING);
    if (source === null) {
      source = (await deps.sources.create(deps.workspace, CHANNELS_SOURCE_NAME)).source.id;
      await deps.store.setSetting(deps.workspace, CHANNELS_SOURCE_SETTING, source);
    }
    return new Channels(deps, asSourceId(source));
  }

  private async links(m: OutboundMessage): Promise<Record<string, string>> {
    if (m.channel !== 'email') return {};
    const email = await this.settings.get(m.workspaceId as WorkspaceId, 'email');
    if (email === null) return {};
    const sign = await this.tokens.signer(m.workspaceId);
    return { unsubscribe_url: feedbackLinks(sign, email.publicUrl, renderedShape(m)).unsubscribe };
  }

  /**
   * Renders a message for its profile and finds its address. A skip (no template, a missing
   * required variable, no address) comes back with its reason.
   */
  async render(
    message: OutboundMessage,
    profile: DeliveryProfile,
  ): Promise<
    | { kind: 'rendered'; rendered: RenderedMessage }
    | { kind: 'skipped'; reason: string; missing?: readonly string[] }
  > {
    const address = resolveRecipient(message.channel, profile);
    if ('missing' in address) return { kind: 'skipped', reason: address.missing };
    const outcome = await this.templates.render(message, profile, profile.computed ?? {});
    if (outcome.kind === 'skipped') return outcome;
    return {
      kind: 'rendered',
      rendered: {
        ...renderedShape(message),
        locale: outcome.locale,
        to: address.to,
        content: outcome.content,
      },
    };
  }

  /** Sends a rendered message with the workspace's settings for its channel. */
  async send(rendered: RenderedMessage, hooks?: SendHooks): Promise<SendResult> {
    const settings = await this.settings.get(rendered.workspaceId as WorkspaceId, rendered.channel);
    if (settings === null) return permanent(`the ${rendered.channel} channel is not configured`);
    const sender = this.senders[rendered.channel] as Sender<Channel>;
    try {
      return await sender.send(rendered, rendered.id, settings as ChannelSettingsMap[Channel], hooks);
    } catch (e) {
      // A bug or an infrastructure failure (the store): worth another try, and visible.
      return { kind: 'retryable', reason: `sender failed: ${(e as Error).message}` };
    }
  }

  /** Renders and sends: what the dispatcher calls for each message the guardrails let through. */
  async deliver(message: OutboundMessage, profile: DeliveryProfile): Promise<DeliveryOutcome> {
    const r = await this.render(message, profile);
    if (r.kind === 'skipped') return r;
    return this.send(r.rendered);
  }

  /** `deliver` for a message whose profile is loaded here; a profile that is gone is a skip. */
  async deliverMessage(message: OutboundMessage): Promise<DeliveryOutcome> {
    const ws = message.workspaceId as WorkspaceId;
    const profile = this.deps.loadProfile
      ? await this.deps.loadProfile(ws, message.profileId)
      : await this.deps.store.getProfile(ws, asProfileId(message.profileId));
    if (profile === null) return { kind: 'skipped', reason: 'the profile no longer exists' };
    return this.deliver(message, profile);
  }

  async close(): Promise<void> {
    for (const s of Object.values(this.senders) as Sender[]) await s.close?.();
  }
}

function renderedShape(m: OutboundMessage): Omit<RenderedMessage, 'locale' | 'to' | 'content'> {
  return {
    id: m.id,
    workspaceId: m.workspaceId,
    profileId: m.profileId,
    channel: m.channel,
    template: m.template,
    category: m.category,
    ...(m.topic !== undefined ? { topic: m.topic } : {}),
    ...(m.journey !== null ? { journeyKey: m.journey.key } : {}),
  };
}
