import { type Static, type TSchema, Type } from '@sinclair/typebox';

/**
 * Segment message schemas. They validate every tracking request (compiled once in
 * `validate.ts`) and describe the same requests in the OpenAPI document.
 */
const Identity = Type.Union([Type.String({ maxLength: 1024 }), Type.Number(), Type.Null()], {
  description: 'A string; numbers are accepted and stored as strings.',
});
const Obj = (description: string) => Type.Object({}, { additionalProperties: true, description });
const Timestamp = (description: string) => Type.String({ maxLength: 64, description });

const common = {
  userId: Type.Optional(Identity),
  anonymousId: Type.Optional(Identity),
  context: Type.Optional(Obj('Context: ip, userAgent, locale, timezone, page, campaign, device, consent…')),
  integrations: Type.Optional(Obj('Destinations to enable or disable; stored, not acted on.')),
  timestamp: Type.Optional(Timestamp('When the event happened (ISO 8601). Defaults to the receive time.')),
  sentAt: Type.Optional(
    Timestamp('When the client sent it (ISO 8601); used to correct the client clock skew.'),
  ),
  originalTimestamp: Type.Optional(Timestamp('Kept as sent.')),
  messageId: Type.Optional(
    Type.String({ minLength: 1, maxLength: 256, description: 'De-duplicates retries per source.' }),
  ),
  writeKey: Type.Optional(Type.String({ description: 'Alternative to HTTP Basic auth.' })),
};

export const TrackMessage = Type.Object({
  type: Type.Optional(Type.Literal('track')),
  event: Type.String({ minLength: 1, maxLength: 1024, description: 'The action, e.g. "Order Completed".' }),
  properties: Type.Optional(Obj('Properties of the action.')),
  ...common,
});
export const IdentifyMessage = Type.Object({
  type: Type.Optional(Type.Literal('identify')),
  traits: Type.Optional(Obj('Traits merged into the profile, newest value per key.')),
  ...common,
});
const pageLike = (type: 'page' | 'screen') =>
  Type.Object({
    type: Type.Optional(Type.Literal(type)),
    name: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
    category: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
    properties: Type.Optional(Obj(`Properties of the ${type}.`)),
    ...common,
  });
export const PageMessage = pageLike('page');
export const ScreenMessage = pageLike('screen');
export const GroupMessage = Type.Object({
  type: Type.Optional(Type.Literal('group')),
  groupId: Identity,
  traits: Type.Optional(Obj('Traits of the group (account, company).')),
  ...common,
});
export const AliasMessage = Type.Object({
  ...common,
  type: Type.Optional(Type.Literal('alias')),
  previousId: Identity,
  userId: Identity,
});

export const BatchItem = Type.Object(
  { type: Type.Union(['identify', 'track', 'page', 'screen', 'group', 'alias'].map((t) => Type.Literal(t))) },
  { additionalProperties: true, description: 'Any message above, with its `type`.' },
);
const batchEnvelope = {
  context: Type.Optional(Obj('Merged into each message’s context.')),
  integrations: Type.Optional(Obj('Merged into each message’s integrations.')),
  sentAt: Type.Optional(Timestamp('Applies to messages without their own sentAt.')),
  writeKey: Type.Optional(Type.String()),
};
export const BatchRequest = Type.Object({
  batch: Type.Array(BatchItem, { description: 'Messages, each with a `type`.' }),
  ...batchEnvelope,
});
/** The batch request without its items, which are checked one by one to name every bad index. */
export const BatchEnvelope = Type.Object({ batch: Type.Array(Type.Unknown()), ...batchEnvelope });

export const MESSAGE_SCHEMAS = {
  track: TrackMessage,
  identify: IdentifyMessage,
  page: PageMessage,
  screen: ScreenMessage,
  group: GroupMessage,
  alias: AliasMessage,
} as const satisfies Record<string, TSchema>;

export const TrackingSuccess = Type.Object({ success: Type.Literal(true) });
export const TrackingError = Type.Object({
  success: Type.Literal(false),
  errors: Type.Array(
    Type.Object({
      index: Type.Optional(Type.Integer({ description: 'Position in the batch.' })),
      path: Type.String({ description: 'Dotted path of the offending field ("" for the whole item).' }),
      message: Type.String(),
    }),
  ),
});
export type TrackingErrorBody = Static<typeof TrackingError>;
