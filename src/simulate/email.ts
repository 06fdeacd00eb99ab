/**
 * E-mail: the weekly newsletter and promotion blasts, transactional mail and cart reminders, as seen
 * by the e-mail provider (delivered, opened, clicked, unsubscribed), and the visits a click starts.
 */

import type { Interest, Product } from './catalog.ts';
import { CATEGORIES, PRODUCTS_BY_INTEREST, SHOP } from './catalog.ts';
import { clamp } from './clamp.ts';
import type { Customer } from './customer.ts';
import type { Intent, Landing } from './intent.ts';
import { serverContext } from './message-context.ts';
import { localPrice } from './money.ts';
import type { JsonObject } from './simulated-message.ts';
import { DAY, HOUR, iso, MINUTE, SECOND } from './time.ts';

/**
 * Sends a marketing e-mail now: the weekly newsletter, or the promotion blast of local day d (every
 * customer gets the promotion of their main interest most of the time, relevant or not).
 */
export function marketingEmail(customer: Customer, kind: 'newsletter' | 'promotion', d: number): void {
  const world = customer.world;
  const rng = customer.rng;
  const date = world.date(d);
  if (kind === 'newsletter') {
    sendEmail(customer, customer.now, `newsletter_${date}`, 'This week at Example Shop', 'marketing');
  } else {
    // batch and blast: everybody gets the promotion of their main interest, relevant or not
    const interest = rng.chance(0.7) ? (customer.interests[0] as Interest) : world.interests.pick(rng);
    const category = CATEGORIES.find((c) => c.interest === interest);
    const products = rng.sample(PRODUCTS_BY_INTEREST[interest], 2);
    sendEmail(
      customer,
      customer.now,
      `${interest}_promo_${date}`,
      `This weekend only: ${category?.name ?? 'our bestsellers'} from ${currencyText(customer, 9.99)}`,
      'marketing',
      products,
      interest,
    );
  }
}

function currencyText(customer: Customer, usd: number): string {
  return `${localPrice(usd, customer.country)} ${customer.country.currency}`;
}

/** Schedules a transactional e-mail (order confirmation, …) at `ts`, for customers with an account. */
export function transactionalEmail(customer: Customer, ts: number, campaign: string, subject: string): void {
  if (!customer.identified) return;
  customer.schedule(ts, () => sendEmail(customer, customer.now, campaign, subject, 'transactional'));
}

/**
 * After a checkout abandoned at `ts`, reminds an e-mailable customer of their cart about a day later,
 * unless they have emptied it by then.
 */
export function cartAbandoned(customer: Customer, ts: number): void {
  if (!customer.emailable(ts)) return;
  const products = customer.cart.map((l) => l.product);
  const at = ts + clamp(customer.rng.around(20 * HOUR, 0.3), 2 * HOUR, 3 * DAY);
  customer.activity(at, () => {
    if (customer.cart.length === 0) return;
    sendEmail(
      customer,
      customer.now,
      'cart_abandonment',
      'You left something in your cart',
      'transactional',
      products,
    );
  });
}

/**
 * Sends an e-mail at `ts` and plays out what the customer does with it: they may open it (soon, or at
 * their usual reading time), unsubscribe from marketing mail, or click through to a visit about
 * `products` or `interest`.
 */
export function sendEmail(
  customer: Customer,
  ts: number,
  campaign: string,
  subject: string,
  kind: 'marketing' | 'transactional',
  products?: readonly Product[],
  interest?: Interest,
): void {
  if (kind === 'marketing' ? !customer.emailable(ts) : !customer.identified) return;
  const rng = customer.rng;
  const emailId = `em_${rng.hex(16)}`;
  const props: JsonObject = {
    email_id: emailId,
    email_subject: subject,
    campaign_id: `cmp_${campaign}`,
    campaign_name: campaign,
  };
  customer.server(ts, 'Email Delivered', { ...props });
  const openChance = kind === 'transactional' ? Math.min(0.95, customer.openRate + 0.35) : customer.openRate;
  if (!rng.chance(openChance)) return;
  const opened = rng.chance(kind === 'transactional' ? 0.5 : 0.12)
    ? ts + clamp(rng.around(8 * MINUTE, 1), 20 * SECOND, 4 * HOUR)
    : readingSlot(customer, ts);
  if (opened === undefined) return;
  customer.server(opened, 'Email Opened', { ...props });
  if (kind === 'marketing' && rng.chance(0.012)) {
    const at = opened + rng.int(20, 120) * SECOND;
    customer.unsubscribedAt = at;
    customer.server(at, 'Unsubscribed', { ...props, channel: 'email', list: 'marketing' });
    const traits: JsonObject = { email_opt_in: false, unsubscribed_at: iso(at) };
    customer.emit(at + SECOND, 'identify', null, { traits }, serverContext());
    return;
  }
  if (!rng.chance(customer.clickRate)) return;
  const clicked = opened + clamp(rng.around(45 * SECOND, 0.7), 3 * SECOND, 10 * MINUTE);
  const target = products?.[0];
  const linkUrl = target
    ? `${SHOP.origin}/p/${target.sku.toLowerCase()}`
    : `${SHOP.origin}/?utm_source=newsletter&utm_medium=email&utm_campaign=${campaign}`;
  customer.server(clicked, 'Email Link Clicked', {
    ...props,
    link_url: linkUrl,
    link_id: `lnk_${rng.hex(6)}`,
  });
  const landing: Landing = {
    kind: 'email',
    referrer: '',
    campaign: { source: 'newsletter', medium: 'email', name: campaign },
  };
  const buy = campaign === 'cart_abandonment' ? 0.6 : 0.3;
  const intent: Intent = { buy, landing, coupon: rng.chance(0.4) ? 'EMAIL10' : undefined };
  if (products) intent.products = products;
  if (interest) intent.interest = interest;
  else if (target) intent.interest = target.interest;
  const device = customer.devices.find((d) => !d.app) ?? customer.pickDevice();
  customer.schedule(clicked + rng.int(2, 8) * SECOND, () => customer.visit(device, intent));
}

/** When this customer next reads e-mail after `after`: their own hour, on their own kind of day. */
function readingSlot(customer: Customer, after: number): number | undefined {
  const rng = customer.rng;
  const world = customer.world;
  let d = world.localDay(customer.tz, after);
  for (let k = 0; k < 10; k++, d++) {
    if (!rng.chance(customer.readingDays[world.weekday(d)] ?? 0)) continue;
    const ts = customer.localTime(d, customer.readingHour + rng.normal(0, 0.3));
    if (ts > after + 2 * MINUTE) return ts;
  }
  return undefined;
}
