/**
 * App push notifications: weekly campaigns and personal offers, and the visits a tap starts.
 */

import type { Interest, Product } from './catalog.ts';
import { CATEGORIES, PRODUCTS_BY_INTEREST } from './catalog.ts';
import { clamp } from './clamp.ts';
import type { Customer } from './customer.ts';
import type { Device } from './device.ts';
import type { Intent } from './intent.ts';
import type { CampaignContext, JsonObject } from './simulated-message.ts';
import { HOUR, MINUTE, SECOND } from './time.ts';

/**
 * The weekly push campaign about new products in one of the customer's interests, sent now to their
 * app if they are logged in there and accept push notifications.
 */
export function pushCampaign(customer: Customer, app: Device, interest: Interest): void {
  if (!app.loggedIn || !customer.consent.push) return;
  const rng = customer.rng;
  const world = customer.world;
  const products = rng.sample(PRODUCTS_BY_INTEREST[interest], 1);
  const name = `${interest}_push_${world.date(world.localDay(customer.tz, customer.now))}`;
  const title = `New in ${CATEGORIES.find((c) => c.interest === interest)?.name ?? 'store'}`;
  push(customer, app, name, title, products, 0.07, 0.25);
}

/**
 * Sends a push notification about `products` to the app now. With probability `tapRate` the customer
 * taps it, which opens a visit about those products that ends in a purchase with probability `buy`.
 */
export function push(
  customer: Customer,
  app: Device,
  name: string,
  content: string,
  products: readonly Product[],
  tapRate: number,
  buy: number,
): void {
  const rng = customer.rng;
  const campaign: CampaignContext = { source: 'example_shop', medium: 'push', name, content };
  const props = (): JsonObject => ({
    campaign: { ...campaign },
    product_ids: products.map((p) => p.productId),
  });
  customer.emitClient(customer.now, 'track', app, {
    event: 'Push Notification Received',
    properties: props(),
  });
  if (!rng.chance(tapRate)) return;
  const tapped = customer.now + clamp(rng.around(6 * MINUTE, 1.2), 5 * SECOND, 6 * HOUR);
  customer.emitClient(
    tapped,
    'track',
    app,
    { event: 'Push Notification Tapped', properties: { ...props(), action_identifier: 'open' } },
    undefined,
    campaign,
  );
  const intent: Intent = { buy, products, landing: { kind: 'push', referrer: '', campaign } };
  const first = products[0];
  if (first) intent.interest = first.interest;
  customer.schedule(tapped + rng.int(1, 4) * SECOND, () => customer.visit(app, intent));
}
