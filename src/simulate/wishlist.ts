/**
 * Wish lists, and the store visits a big-ticket wish leads to.
 */

import { productProperties } from './cart.ts';
import type { Product } from './catalog.ts';
import type { Customer } from './customer.ts';
import type { Session } from './session.ts';
import { storeVisit } from './store-visit.ts';

/**
 * Adds a product to the customer's wish list during a session (once). A big-ticket wish often leads
 * to a look at it in a store, seen by the store's beacon through the app.
 */
export function addToWishlist(customer: Customer, s: Session, product: Product): void {
  if (customer.wishlist.includes(product)) return;
  customer.wishlist.push(product);
  s.track('Product Added to Wishlist', {
    wishlist_id: `wl_${customer.userId.slice(5, 13)}`,
    ...productProperties(customer.world, customer.country, product),
  });
  // a big-ticket wish often leads to a look at it in a store (seen by the beacon, via the app)
  const app = customer.appDevice();
  if (
    product.bigTicket &&
    app &&
    !customer.storeVisitPlanned &&
    customer.city.stores.length > 0 &&
    customer.rng.chance(0.65)
  ) {
    customer.storeVisitPlanned = true;
    const d = customer.world.localDay(customer.tz, s.t) + customer.rng.int(1, 10);
    const ts = customer.localTime(d, customer.rng.float(10, 19));
    customer.activity(ts, () => storeVisit(customer, app));
  }
}
