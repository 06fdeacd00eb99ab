/**
 * Shopping carts, and how products and carts are described in messages, priced in the shopper's
 * currency.
 */

import type { Country, Product } from './catalog.ts';
import { SHOP } from './catalog.ts';
import { localPrice, money } from './money.ts';
import type { JsonObject } from './simulated-message.ts';
import type { World } from './world.ts';

/** A product in a cart or order, with its quantity. */
export interface CartLine {
  product: Product;
  quantity: number;
}

/** The amounts of an order, in the shopper's currency. */
export type CartTotals = {
  subtotal: number;
  discount: number;
  revenue: number;
  shipping: number;
  tax: number;
  total: number;
};

/** A line of the `products` property of cart, checkout and order events. */
export type ProductLine = {
  product_id: string;
  sku: string;
  name: string;
  category: string;
  brand: string;
  price: number;
  quantity: number;
};

/** The properties describing one product in product events, priced in a market's currency. */
export function productProperties(world: World, country: Country, product: Product): JsonObject {
  const props: JsonObject = {
    product_id: product.productId,
    sku: product.sku,
    name: product.name,
    category: product.category,
    brand: product.brand,
    price: world.price(product, country),
    currency: country.currency,
    url: `${SHOP.origin}/p/${product.sku.toLowerCase()}`,
  };
  if (product.variant) props.variant = product.variant;
  return props;
}

/** The `products` property of a cart or an order, priced in a market's currency. */
export function cartLines(world: World, country: Country, cart: readonly CartLine[]): ProductLine[] {
  return cart.map(({ product, quantity }) => ({
    product_id: product.productId,
    sku: product.sku,
    name: product.name,
    category: product.category,
    brand: product.brand,
    price: world.price(product, country),
    quantity,
  }));
}

/**
 * What a cart costs in a market: a coupon takes 10 % off, shipping is free for big-ticket items and
 * larger orders, and tax is added on top.
 */
export function cartTotals(
  world: World,
  country: Country,
  cart: readonly CartLine[],
  coupon: string | undefined,
): CartTotals {
  const c = country;
  let subtotal = 0;
  let bigTicket = false;
  for (const line of cart) {
    subtotal += world.price(line.product, c) * line.quantity;
    if (line.product.bigTicket) bigTicket = true;
  }
  subtotal = money(subtotal, c.decimals);
  const discount = coupon ? money(subtotal * 0.1, c.decimals) : 0;
  const revenue = money(subtotal - discount, c.decimals);
  const shipping = bigTicket || subtotal >= 50 * c.usdRate ? 0 : money(localPrice(4.99, c), c.decimals);
  const tax = money(revenue * c.taxRate, c.decimals);
  const total = money(revenue + shipping + tax, c.decimals);
  return { subtotal, discount, revenue, shipping, tax, total };
}
