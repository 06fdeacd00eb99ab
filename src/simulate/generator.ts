/**
 * Synthetic retail customers, each living a small story, as a stream of Segment-spec messages.
 *
 * Every customer is an independent discrete-event simulation with its own seeded random stream and a
 * small priority queue of pending actions (plan a day, run a browsing session, deliver an e-mail, …)
 * and ready messages. `simulate()` merges all customers' streams with a binary heap keyed on the next
 * message's timestamp, so the output is globally ordered by time and memory grows with the number of
 * customers, never with the number of messages. The same options always give the same output.
 *
 * This module is the simulator's public entry point; the pieces live in the modules it re-exports.
 */

export { simulate } from './simulate.ts';
export type { SimulateOptions } from './simulate-options.ts';
export type {
  CampaignContext,
  JsonObject,
  JsonValue,
  MessageChannel,
  MessageType,
  PageContext,
  SimulatedContext,
  SimulatedMessage,
} from './simulated-message.ts';
