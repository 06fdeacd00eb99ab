import type { JsonObject } from '../core/event.ts';
import type { SourceId, WorkspaceId } from '../core/ids.ts';
import type { Profile } from '../core/profile.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { Store, TimelineCursor } from '../store/port.ts';
import { CHANNEL_EVENTS, channelEvent, type EventIdentity } from './channel-events.ts';
import type { InAppSettings } from './channel-settings.ts';
import { delivered, permanent, type RenderedMessage, type Sender, type SendResult } from './sender.ts';

/** One message of an inbox as the client sees it. */
export interface InboxMessage {
  readonly id: string;
  readonly title: string;
  readonly body: string;
  readonly url: string | null;
  readonly template: string | null;
  readonly createdAt: string;
  readonly read: boolean;
}

/** How far back an inbox looks in a profile's timeline. */
const SCAN_EVENTS = 5_000;
const PAGE = 1_000;

/**
 * The in-app inbox, kept as events: a delivery is an `In-App Message Delivered` event on the
 * profile, a read an `In-App Message Read` event, both under the built-in channels source. So the
 * inbox is durable with no table of its own, follows merges and erasure like everything else, and
 * a retried delivery is stored once (the event's message id is the outbound message id). Reading
 * an inbox walks the newest events of one profile (bounded by `SCAN_EVENTS`) through the
 * timeline index: a few milliseconds, paid only when a client opens its inbox.
 */
export class Inbox {
  constructor(
    private readonly deps: {
      store: Store;
      ingest: IngestService;
      source: () => SourceId;
      now: () => number;
    },
  ) {}

  /** Stores a delivered in-app message; resolves once it is durable. */
  async deliver(rendered: RenderedMessage): Promise<SendResult> {
    if (rendered.content.channel !== 'inapp') return permanent('content is not an in-app message');
    const who: EventIdentity = {
      userId: rendered.to.userId ?? null,
      anonymousId: rendered.to.anonymousId ?? null,
    };
    if (who.userId === null && who.anonymousId === null)
      return permanent('the profile has no user or anonymous id');
    const { title, body, url } = rendered.content;
    const event = channelEvent(
      {
        workspaceId: rendered.workspaceId as WorkspaceId,
        sourceId: this.deps.source(),
        now: this.deps.now(),
      },
      who,
      {
        type: 'track',
        event: CHANNEL_EVENTS.inAppDelivered,
        messageId: `inapp:${rendered.id}`,
        properties: {
          message_id: rendered.id,
          title,
          body,
          url: url ?? null,
          template: rendered.template,
          ...(rendered.journeyKey !== undefined ? { journey: rendered.journeyKey } : {}),
          channel: 'inapp',
        },
      },
    );
    await this.deps.ingest.submit([event]);
    return delivered(`inapp:${rendered.id}`);
  }

  /** The profile's inbox, newest first, with read marks. */
  async list(ws: WorkspaceId, profile: Profile, settings: InAppSettings): Promise<InboxMessage[]> {
    const read = new Set<string>();
    const messages: Omit<InboxMessage, 'read'>[] = [];
    let before: TimelineCursor | null = null;
    for (let scanned = 0; scanned < SCAN_EVENTS; scanned += PAGE) {
      const page = await this.deps.store.listEvents(ws, profile.id, PAGE, before);
      for (const ev of page.events) {
        const props = (ev.body.properties ?? {}) as JsonObject;
        if (ev.name === CHANNEL_EVENTS.inAppRead && typeof props.message_id === 'string')
          read.add(props.message_id);
        else if (ev.name === CHANNEL_EVENTS.inAppDelivered && typeof props.message_id === 'string') {
          messages.push({
            id: props.message_id,
            title: String(props.title ?? ''),
            body: String(props.body ?? ''),
            url: typeof props.url === 'string' ? props.url : null,
            template: typeof props.template === 'string' ? props.template : null,
            createdAt: new Date(ev.timestamp).toISOString(),
          });
        }
      }
      if (page.cursor === null || messages.length >= settings.maxMessages) break;
      const [ts, seq] = page.cursor.split('.').map(Number);
      before = { ts: ts!, seq: seq! };
    }
    return messages.slice(0, settings.maxMessages).map((m) => ({ ...m, read: read.has(m.id) }));
  }

  /** Marks messages read (one `In-App Message Read` event each; marking twice stores once). */
  async markRead(ws: WorkspaceId, who: EventIdentity, messageIds: readonly string[]): Promise<void> {
    const now = this.deps.now();
    const events = messageIds.map((id) =>
      channelEvent({ workspaceId: ws, sourceId: this.deps.source(), now }, who, {
        type: 'track',
        event: CHANNEL_EVENTS.inAppRead,
        messageId: `inapp-read:${id}`,
        properties: { message_id: id, channel: 'inapp' },
      }),
    );
    if (events.length > 0) await this.deps.ingest.submit(events);
  }
}

/** The in-app channel's sender: delivery is storing the message in the inbox. */
export class InAppSender implements Sender<'inapp'> {
  readonly channel = 'inapp' as const;
  constructor(private readonly inbox: Inbox) {}
  send(rendered: RenderedMessage, _key: string, _settings: InAppSettings): Promise<SendResult> {
    return this.inbox.deliver(rendered);
  }
}
