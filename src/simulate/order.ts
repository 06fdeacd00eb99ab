/**
 * Orders and fulfilment: confirmation, cancellation, shipping and delivery, and what follows a
 * delivery (refunds, support tickets, reviews, new shoes and the next purchase of consumables).
 */

import type { CartLine, CartTotals } from './cart.ts';
import { cartLines } from './cart.ts';
import type { Product } from './catalog.ts';
import { CARRIERS, REVIEW_TEXTS } from './catalog.ts';
import { clamp } from './clamp.ts';
import type { Customer } from './customer.ts';
import type { Device } from './device.ts';
import { transactionalEmail } from './email.ts';
import { scheduleReplenish } from './replenishment.ts';
import { Session } from './session.ts';
import type { JsonObject } from './simulated-message.ts';
import { openTicket } from './support-ticket.ts';
import { DAY, HOUR, MINUTE, SECOND } from './time.ts';

/**
 * Completes the checkout of `cart` in session `s` and plays out the order's life: the confirmation
 * e-mail, a possible cancellation, shipping and delivery, then refunds, tickets, reviews, and the
 * replenishment of consumables and running shoes.
 */
export function completeOrder(
  customer: Customer,
  s: Session,
  orderId: string,
  cart: readonly CartLine[],
  totals: CartTotals,
  coupon: string | undefined,
): void {
  const rng = customer.rng;
  const world = customer.world;
  const currency = customer.country.currency;
  const properties: JsonObject = {
    checkout_id: orderId,
    order_id: orderId,
    affiliation: s.device.app ? 'App' : 'Online Store',
    subtotal: totals.subtotal,
    total: totals.total,
    revenue: totals.revenue,
    shipping: totals.shipping,
    tax: totals.tax,
    discount: totals.discount,
    currency,
    products: cartLines(world, customer.country, cart),
  };
  if (coupon) properties.coupon = coupon;
  s.track('Order Completed', properties);
  s.view('Order Confirmation', '/checkout/confirmation', 'Thank you for your order');
  const ordered = s.t;
  for (const line of cart) {
    const wished = customer.wishlist.indexOf(line.product);
    if (wished >= 0) customer.wishlist.splice(wished, 1);
  }
  if (customer.wishlist.length === 0) customer.storeVisitPlanned = false;
  transactionalEmail(
    customer,
    ordered + rng.int(20, 90) * SECOND,
    'order_confirmation',
    `Your order ${orderId}`,
  );

  // cancelled before it ships
  if (rng.chance(0.04)) {
    customer.server(ordered + rng.around(5 * HOUR, 0.8), 'Order Cancelled', {
      order_id: orderId,
      total: totals.total,
      currency,
      reason: rng.pick(['changed_mind', 'found_cheaper', 'payment_failed', 'out_of_stock']),
    });
    return;
  }

  const bigTicket = cart.some((l) => l.product.bigTicket);
  const carrier = bigTicket ? 'Appliance Delivery Team' : rng.pick(CARRIERS);
  const tracking = rng.hex(12).toUpperCase();
  const shipped = ordered + clamp(rng.around(bigTicket ? 2.5 * DAY : 1.1 * DAY, 0.5), 2 * HOUR, 8 * DAY);
  const transitDays = bigTicket ? rng.int(2, 9) : rng.int(1, 5);
  const deliveryDay = world.localDay(customer.tz, shipped) + transitDays;
  const delivered = Math.max(shipped + 3 * HOUR, customer.localTime(deliveryDay, rng.float(8.5, 19.5)));
  const deliveredLines = () =>
    cart.map(({ product, quantity }) => ({
      product_id: product.productId,
      sku: product.sku,
      name: product.name,
      quantity,
    }));
  customer.server(shipped, 'Order Shipped', {
    order_id: orderId,
    carrier,
    tracking_number: tracking,
    shipping_method: bigTicket ? 'appointment' : rng.pick(['standard', 'standard', 'express']),
    products: deliveredLines(),
  });
  customer.server(delivered, 'Order Delivered', {
    order_id: orderId,
    carrier,
    tracking_number: tracking,
    products: deliveredLines(),
  });

  // after delivery: refunds, problems, reviews, and the next purchase of consumables
  const refunded = rng.chance(0.03);
  const refundAt = delivered + clamp(rng.around(6 * DAY, 0.6), DAY, 30 * DAY);
  if (refunded) {
    customer.server(refundAt, 'Order Refunded', {
      order_id: orderId,
      total: totals.total,
      currency,
      reason: rng.pick(['damaged', 'not_as_described', 'wrong_item', 'no_longer_needed']),
    });
  }
  if (rng.chance(refunded ? 0.4 : 0.045)) {
    const at = delivered + clamp(rng.around(10 * HOUR, 0.8), 20 * MINUTE, 4 * DAY);
    customer.activity(at, () =>
      openTicket(
        customer,
        rng.chance(bigTicket ? 0.3 : 0.12) ? 'critical' : undefined,
        orderId,
        rng.int(0, 3),
      ),
    );
  }
  if (rng.chance(refunded ? 0.3 : 0.28)) {
    const line = rng.pick(cart);
    const at = delivered + clamp(rng.around(5 * DAY, 0.6), 6 * HOUR, 40 * DAY);
    const device = s.device;
    customer.activity(Math.min(at, refunded ? refundAt - MINUTE : at), () =>
      review(customer, device, orderId, line.product, refunded),
    );
  }
  const runner = customer.runner;
  for (const line of cart) {
    if (line.product.replaceAfterMiles && runner) {
      runner.shoe = line.product;
      runner.shoeMiles = 0;
      runner.replaceAfter = (line.product.replaceAfterMiles ?? 400) * clamp(rng.around(1, 0.12), 0.7, 1.4);
    }
    const days = line.product.repurchaseDays;
    if (days && rng.chance(0.8)) {
      const interval =
        days * customer.paceFactor * clamp(rng.around(1, 0.15), 0.6, 1.6) * line.quantity ** 0.8;
      scheduleReplenish(customer, line.product, delivered + interval * DAY);
    }
  }
}

/** The customer reviews a product of an order now, in a short visit; unhappy customers rate it low. */
function review(
  customer: Customer,
  device: Device,
  orderId: string,
  product: Product,
  unhappy: boolean,
): void {
  const rng = customer.rng;
  const s = new Session(customer, device, customer.now, { kind: 'direct', referrer: '' });
  s.view('Write a Review', `/account/orders/${orderId}/review`, 'Write a review');
  s.step(90 * SECOND);
  const rating = unhappy
    ? rng.weighted([1, 2, 3] as const, [0.6, 0.3, 0.1])
    : rng.weighted([1, 2, 3, 4, 5] as const, [0.04, 0.05, 0.11, 0.33, 0.47]);
  s.track('Product Reviewed', {
    product_id: product.productId,
    sku: product.sku,
    name: product.name,
    order_id: orderId,
    review_id: `rev_${rng.hex(12)}`,
    review_body: rng.pick(REVIEW_TEXTS[rating]),
    rating,
  });
}
