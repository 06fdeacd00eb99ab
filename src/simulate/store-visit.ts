/**
 * Visits to the shop's stores, seen by the in-store beacons through the app.
 */

import { clamp } from './clamp.ts';
import type { Customer } from './customer.ts';
import type { Device } from './device.ts';
import { push } from './push.ts';
import { MINUTE } from './time.ts';

/**
 * The customer walks into one of the stores in their city now; if items of their wish list are
 * there, the app offers them a discount on those shortly after (the "washer and dryer" story).
 */
export function storeVisit(customer: Customer, app: Device): void {
  const rng = customer.rng;
  const store = rng.pick(customer.city.stores);
  const dwell = Math.round(clamp(rng.around(22, 0.6), 3, 120));
  customer.emitClient(customer.now, 'track', app, {
    event: 'Store Visited',
    properties: {
      store_id: store.storeId,
      store_name: store.name,
      beacon_id: store.beaconId,
      city: customer.city.name,
      country: customer.country.code,
      dwell_minutes: dwell,
    },
  });
  // the wish list's items are in this store: the app offers them (the "washer and dryer" story)
  const wished = customer.wishlist.filter((p) => p.bigTicket || rng.chance(0.3));
  customer.storeVisitPlanned = false;
  if (wished.length > 0 && app.loggedIn && customer.consent.push) {
    const at = customer.now + (dwell + rng.int(5, 90)) * MINUTE;
    const products = wished.slice(0, 2);
    customer.schedule(at, () => {
      push(
        customer,
        app,
        'wishlist_in_store_offer',
        `${products[0]?.name ?? 'Your wish list'}: 10% off today`,
        products,
        0.45,
        0.6,
      );
    });
  }
}
