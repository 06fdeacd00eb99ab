/**
 * The shape of the simulator's output: Segment-spec messages as plain JSON.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type MessageType = 'identify' | 'track' | 'page' | 'screen' | 'group' | 'alias';
export type MessageChannel = 'browser' | 'mobile' | 'server';

export type PageContext = { path: string; referrer: string; search: string; title: string; url: string };
export type CampaignContext = { source: string; medium: string; name: string; content?: string };

export type SimulatedContext = {
  channel: MessageChannel;
  library: { name: string; version: string };
  ip?: string;
  userAgent?: string;
  locale?: string;
  timezone?: string;
  app?: { name: string; version: string; build: string; namespace: string };
  device?: { id: string; type: string; manufacturer: string; model: string };
  os?: { name: string; version: string };
  page?: PageContext;
  campaign?: CampaignContext;
};

/** One Segment-spec message, plain JSON. */
export type SimulatedMessage = {
  type: MessageType;
  messageId: string;
  /** ISO 8601, UTC, millisecond precision. */
  timestamp: string;
  userId?: string;
  anonymousId?: string;
  /** alias: the anonymous id being linked to userId. */
  previousId?: string;
  /** group: the account the user belongs to. */
  groupId?: string;
  /** track: the event name. */
  event?: string;
  /** page / screen: the page or screen name. */
  name?: string;
  properties?: JsonObject;
  traits?: JsonObject;
  context: SimulatedContext;
};
