/**
 * The `context` of messages: which library sent them, from which device, page and campaign.
 *
 * Every message gets its own context objects, so a consumer may change one without touching others.
 */

import type { City } from './catalog.ts';
import { SHOP } from './catalog.ts';
import type { Device } from './device.ts';
import type { CampaignContext, PageContext, SimulatedContext } from './simulated-message.ts';

/** The context of a message sent by the shop's back office. */
export function serverContext(): SimulatedContext {
  return { channel: 'server', library: { ...SHOP.serverLibrary } };
}

/** The context of a message sent from a customer's browser or app, in the customer's city. */
export function clientContext(
  device: Device,
  city: City,
  page?: PageContext,
  campaign?: CampaignContext,
): SimulatedContext {
  const p = device.profile;
  const context: SimulatedContext = {
    channel: device.app ? 'mobile' : 'browser',
    library: { ...p.library },
    ip: device.ip,
    userAgent: p.userAgent,
    locale: city.locale,
    timezone: city.timeZone,
  };
  if (device.app) {
    context.app = { ...SHOP.app };
    context.device = { id: device.deviceId, ...p.device };
  }
  context.os = { ...p.os };
  if (page) context.page = { ...page };
  if (campaign) context.campaign = { ...campaign };
  return context;
}
