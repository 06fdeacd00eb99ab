/**
 * Visits on the web and in the app: landing, signing in, browsing, the cart and checkout.
 */

import { signIn, updatePreferences } from './account.ts';
import type { CartLine } from './cart.ts';
import { cartLines, cartTotals, productProperties } from './cart.ts';
import type { Product } from './catalog.ts';
import { PAID_CAMPAIGNS, PRODUCTS_BY_INTEREST, SEARCH_QUERIES, SHOP } from './catalog.ts';
import type { Customer } from './customer.ts';
import type { Device } from './device.ts';
import { cartAbandoned } from './email.ts';
import type { Intent, Landing } from './intent.ts';
import { completeOrder } from './order.ts';
import { Session } from './session.ts';
import { SECOND } from './time.ts';
import { addToWishlist } from './wishlist.ts';

/**
 * Runs one visit of a customer, starting now on `device`: what they look at, sign in to, wish for and
 * put in their cart, and whether they check out, as the intent that brought them makes likely.
 */
export function visit(customer: Customer, device: Device, intent: Intent): void {
  const rng = customer.rng;
  const world = customer.world;
  const country = customer.country;
  customer.sessions++;
  const s = new Session(
    customer,
    device,
    customer.now,
    intent.landing ?? pickLanding(customer, device, intent),
  );
  const interest = intent.interest ?? customer.pickInterest();

  if (device.app)
    s.track('Application Opened', { from_background: rng.chance(0.6), version: SHOP.app.version });

  // landing page
  const firstProduct = intent.products?.[0];
  if (firstProduct && s.landing.kind !== 'direct') s.viewProduct(firstProduct);
  else if (s.landing.kind === 'direct' || s.landing.kind === 'push') s.view('Home', '/', SHOP.siteName);
  else if (rng.chance(0.6)) s.viewCategory(interest);
  else s.viewProduct(rng.pick(PRODUCTS_BY_INTEREST[interest]));

  // signing in
  let wantsLogin = false;
  if (!device.loggedIn && customer.lifecycle !== 'anonymous') {
    if (customer.identified) wantsLogin = rng.chance(0.85);
    else wantsLogin = customer.sessions >= customer.identifyAtSession && rng.chance(0.7);
  }
  if (wantsLogin) signIn(customer, s);

  // browsing
  const intended = intent.products ?? [];
  let views = intended.length > 0 ? 1 + rng.poisson(0.8) : 1 + rng.poisson(2.2);
  if (views > 14) views = 14;
  for (let v = 0; v < views; v++) {
    let product: Product;
    if (v < intended.length) product = intended[v] as Product;
    else {
      const browseInterest = rng.chance(0.85) ? interest : world.interests.pick(rng);
      if (rng.chance(0.22)) {
        s.search(rng.pick(SEARCH_QUERIES[browseInterest]), browseInterest);
      } else if (rng.chance(0.3)) s.viewCategory(browseInterest);
      product = rng.pick(PRODUCTS_BY_INTEREST[browseInterest]);
    }
    if (!(v === 0 && firstProduct === product && s.landing.kind !== 'direct')) s.viewProduct(product);
    const isIntended = intended.includes(product);
    if (!isIntended && rng.chance(product.bigTicket ? 0.3 : 0.035)) addToWishlist(customer, s, product);
    const addChance = isIntended ? intent.buy : product.bigTicket ? 0.04 : 0.11;
    if (rng.chance(addChance) && !customer.cart.some((l) => l.product === product)) {
      const quantity =
        product.repurchaseDays && !product.bigTicket ? rng.weighted([1, 2, 3], [0.7, 0.2, 0.1]) : 1;
      customer.cart.push({ product, quantity });
      s.track('Product Added', {
        cart_id: customer.cartId,
        ...productProperties(world, country, product),
        quantity,
      });
    }
  }
  if (customer.cart.length > 1 && rng.chance(0.1)) {
    const removed = customer.cart.pop() as CartLine;
    s.track('Product Removed', {
      cart_id: customer.cartId,
      ...productProperties(world, country, removed.product),
      quantity: removed.quantity,
    });
  }

  if (customer.identified && device.loggedIn && !intent.products && rng.chance(0.02))
    updatePreferences(customer, s);

  // cart and checkout
  if (customer.cart.length === 0) return;
  const checkout = intent.products ? intent.buy : 0.4;
  if (!rng.chance(checkout)) return;
  s.view('Cart', '/cart', 'Your cart');
  s.track('Cart Viewed', { cart_id: customer.cartId, products: cartLines(world, country, customer.cart) });
  if (!rng.chance(0.75)) return;
  s.view('Checkout', '/checkout', 'Checkout');
  const orderId = `ord_${rng.hex(16)}`;
  const totals = cartTotals(world, country, customer.cart, intent.coupon);
  s.track('Checkout Started', {
    order_id: orderId,
    value: totals.subtotal,
    revenue: totals.revenue,
    currency: country.currency,
    products: cartLines(world, country, customer.cart),
  });
  if (!device.loggedIn) {
    // checking out needs an account; visitors who never sign up abandon here
    if (customer.lifecycle === 'anonymous') return;
    signIn(customer, s);
  }
  if (!rng.chance(0.82)) {
    cartAbandoned(customer, s.t);
    return;
  }
  s.track('Payment Info Entered', {
    checkout_id: orderId,
    order_id: orderId,
    payment_method: rng.weighted(
      ['card', 'paypal', 'apple_pay', 'google_pay', 'klarna'],
      [6, 2, 1.5, 1, 0.5],
    ),
  });
  s.step(20 * SECOND);
  const lines = customer.cart;
  customer.cart = [];
  customer.cartId = `cart_${rng.hex(12)}`;
  completeOrder(customer, s, orderId, lines, totals, intent.coupon);
}

/** Where a visit without a given landing comes from: app visits are direct, web ones drawn from traffic. */
function pickLanding(customer: Customer, device: Device, intent: Intent): Landing {
  const rng = customer.rng;
  if (device.app) return { kind: 'direct', referrer: '' };
  const source = customer.world.traffic.pick(rng);
  const landing: Landing = { kind: source.kind, referrer: source.referrer };
  if (source.utm) {
    const interest = intent.interest ?? customer.pickInterest();
    landing.campaign = {
      source: source.utm.source,
      medium: source.utm.medium,
      name: rng.pick(PAID_CAMPAIGNS[interest]),
    };
  }
  return landing;
}
