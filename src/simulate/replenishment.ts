/**
 * Replenishment: customers coming back for consumables they are running out of.
 */

import type { Product } from './catalog.ts';
import { PRODUCTS } from './catalog.ts';
import type { Customer } from './customer.ts';

/**
 * Plans the customer's return for more of `product` on the local day it runs out (`due`), unless a
 * return for it is already planned. Most come back on their own and buy again, a few switch to the
 * healthier alternative, some have gone elsewhere.
 */
export function scheduleReplenish(customer: Customer, product: Product, due: number): void {
  if (due >= customer.world.end || customer.replenishing.includes(product)) return;
  customer.replenishing.push(product);
  const d = customer.world.localDay(customer.tz, due);
  const ts = customer.localTime(d, customer.activeHour());
  customer.activity(ts, () => {
    customer.replenishing = customer.replenishing.filter((p) => p !== product);
    // some come back on their own, some after a reminder; a few have gone elsewhere
    if (customer.lifecycle === 'anonymous' || !customer.rng.chance(0.85)) return;
    const healthier = product.healthierSwap && customer.rng.chance(0.1);
    const products = healthier ? PRODUCTS.filter((p) => p.sku === product.healthierSwap) : [product];
    customer.visit(customer.pickDevice(), { products, interest: product.interest, buy: 0.8 });
  });
}
