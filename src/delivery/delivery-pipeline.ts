/**
 * The one place every message goes through before it leaves: load the profile as it is now,
 * render the template (a missing required variable or address is a skip with its reason), ask the
 * guardrails (consent, suppression segments, de-duplication, frequency caps, quiet hours, rate
 * limits), and only then hand it to the channel's sender. Each decision comes back to the
 * dispatcher, which records it on the profile's timeline (`Message Sent` / `Message Skipped`) and
 * in the outbox.
 *
 * Decisions for one profile are taken one at a time (a burst of triggers for one customer must
 * not all pass a cap of one a day because they were decided together), and the delivery history
 * the caps read is updated before the next decision for that profile.
 */
import { createHash } from 'node:crypto';
import type { Channels } from '../channels/channels.ts';
import type { OutboundMessage } from '../channels/outbound.ts';
import type { Clock } from '../core/clock.ts';
import { asProfileId, type WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import { DeliveryHistory, MESSAGE_SENT, messageSentProperties } from '../guardrails/delivery-history.ts';
import type { DeliveryRecord, TokenBucket } from '../guardrails/facts.ts';
import type { GuardrailService } from '../guardrails/guardrail-service.ts';
import type { Deliverer, DeliveryHooks, DeliveryOutcome } from '../journeys/dispatcher.ts';
import {
  HOLDOUT_SETTING_KEY,
  holdoutSalt,
  inGlobalHoldout,
  parseHoldoutSetting,
} from '../measure/holdout.ts';
import type { Store } from '../store/port.ts';
import { scanLog } from '../store/scan.ts';

export interface DeliveryPipelineDeps {
  readonly store: Store;
  readonly workspace: WorkspaceId;
  readonly clock: Clock;
  readonly channels: Channels;
  readonly guardrails: GuardrailService;
  /** The profile with segments and computed traits filled in. */
  readonly decorate: (p: Profile) => Promise<Profile>;
}

export class DeliveryPipeline implements Deliverer {
  readonly history: DeliveryHistory;
  private buckets: Record<string, TokenBucket> = {};
  private readonly locks = new Map<string, Promise<unknown>>();

  private constructor(private readonly deps: DeliveryPipelineDeps) {
    this.history = new DeliveryHistory(deps.guardrails.historyLimits(deps.workspace));
    deps.guardrails.onChange((ws) => {
      if (ws === deps.workspace) this.history.setLimits(deps.guardrails.historyLimits(ws));
    });
  }

  /** Opens the pipeline; the delivery history is rebuilt from the log's `Message Sent` events. */
  static async open(deps: DeliveryPipelineDeps): Promise<DeliveryPipeline> {
    const p = new DeliveryPipeline(deps);
    const now = deps.clock.now();
    const events: { profileId: string; name: string | null; timestamp: number; properties: unknown }[] = [];
    for await (const e of scanLog(deps.store, deps.workspace, [MESSAGE_SENT])) {
      events.push({
        profileId: e.profileId,
        name: e.name,
        timestamp: e.timestamp,
        properties: e.body.properties,
      });
      if (events.length >= 10_000) p.history.replay(events.splice(0), now);
    }
    p.history.replay(events, now);
    return p;
  }

  deliver(message: OutboundMessage, _attempt: number, hooks?: DeliveryHooks): Promise<DeliveryOutcome> {
    // One decision at a time per profile.
    const key = message.profileId;
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(
      () => this.decideAndSend(message, hooks),
      () => this.decideAndSend(message, hooks),
    );
    this.locks.set(key, next);
    void next.finally(() => {
      if (this.locks.get(key) === next) this.locks.delete(key);
    });
    return next;
  }

  /** Read for every promotional message, so a change of the setting applies to the next one. */
  private async inHoldout(profileId: string): Promise<boolean> {
    const setting = parseHoldoutSetting(
      await this.deps.store.getSetting(this.deps.workspace, HOLDOUT_SETTING_KEY),
    );
    return inGlobalHoldout(holdoutSalt(setting, this.deps.workspace), profileId, setting.percent);
  }

  private async decideAndSend(m: OutboundMessage, hooks?: DeliveryHooks): Promise<DeliveryOutcome> {
    const { store, workspace, clock, channels, guardrails } = this.deps;
    const found = await store.getProfile(workspace, asProfileId(m.profileId));
    if (found === null)
      return { status: 'skipped', reason: 'profile_gone', detail: 'the profile no longer exists' };
    if (m.category === 'promotional' && (await this.inHoldout(m.profileId))) {
      return {
        status: 'skipped',
        reason: 'global_holdout',
        detail:
          'global_holdout: the profile is in the workspace holdout, which receives no promotional messages',
      };
    }
    const profile = await this.deps.decorate(found);
    const rendered = await channels.render(m, profile);
    if (rendered.kind === 'skipped') {
      return {
        status: 'skipped',
        reason: rendered.missing && rendered.missing.length > 0 ? 'missing_variable' : 'not_renderable',
        detail: rendered.missing?.length
          ? `${rendered.reason} (${rendered.missing.join(', ')})`
          : rendered.reason,
      };
    }
    const contentHash = createHash('sha256')
      .update(JSON.stringify(rendered.rendered.content))
      .digest('hex')
      .slice(0, 32);
    const now = clock.now();
    const decision = guardrails.decide(
      m,
      {
        traits: profile.traits,
        computed: profile.computed,
        segments: profile.segments,
        deliveries: this.history.of(m.profileId, now),
        contentHash,
        providers: this.buckets,
      },
      now,
    );
    if (decision.action === 'skip')
      return { status: 'skipped', reason: decision.reason, detail: decision.message };
    if (decision.action === 'defer')
      return { status: 'deferred', until: decision.until, reason: decision.message };
    this.buckets = guardrails.takeTokens(m, this.buckets, now);
    const record: DeliveryRecord = {
      channel: m.channel,
      category: m.category,
      topic: m.topic ?? null,
      template: m.template,
      journey: m.journey?.key ?? null,
      contentHash,
      messageId: m.id,
      at: now,
    };
    const committing = hooks?.committing;
    const sent = await channels.send(
      rendered.rendered,
      committing
        ? {
            committing: (providerId) =>
              committing({
                ...messageSentProperties(record),
                ...(providerId ? { provider_id: providerId } : {}),
              }),
          }
        : undefined,
    );
    switch (sent.kind) {
      case 'delivered':
        this.history.record(m.profileId, record, now);
        return {
          status: 'sent',
          detail: sent.providerId,
          properties: { ...messageSentProperties(record), provider_id: sent.providerId },
        };
      case 'retryable':
        return { status: 'failed', detail: sent.reason, permanent: false };
      case 'permanent':
        return { status: 'failed', detail: sent.reason, permanent: true };
    }
  }
}
