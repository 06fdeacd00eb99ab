/**
 * A visit's clickstream: page views or app screens and the events around them, on one device.
 */

import { productProperties } from './cart.ts';
import type { Interest, Product } from './catalog.ts';
import { CATEGORIES, PRODUCTS_BY_INTEREST, SHOP } from './catalog.ts';
import { clamp } from './clamp.ts';
import type { Customer } from './customer.ts';
import type { Device } from './device.ts';
import type { Landing } from './intent.ts';
import type { CampaignContext, JsonObject, PageContext } from './simulated-message.ts';
import { MINUTE, SECOND } from './time.ts';

/** One visit: a clock, the current page or screen, and the campaign it arrived with. */
export class Session {
  /** The session's clock: the time of its latest message. */
  t: number;
  private page: PageContext | undefined;
  private campaign: CampaignContext | undefined;
  private pages = 0;

  constructor(
    private readonly customer: Customer,
    readonly device: Device,
    start: number,
    readonly landing: Landing,
  ) {
    this.t = start;
    this.campaign = landing.campaign;
  }

  /** Moves the clock on by a human pause (median `median` ms). */
  step(median = 25 * SECOND): void {
    const rng = this.customer.rng;
    this.t += Math.floor(clamp(rng.around(median, 0.7), 2 * SECOND, 12 * MINUTE));
  }

  /**
   * Shows a page (web) or screen (app) after a pause; the landing campaign only tags the first one.
   * `query` is the page URL's query string, if any.
   */
  view(name: string, path: string, title: string, query = ''): void {
    if (this.pages > 0) this.step();
    const device = this.device;
    if (this.pages > 0) this.campaign = undefined;
    this.pages++;
    if (device.app) {
      this.customer.emitClient(
        this.t,
        'screen',
        device,
        { name, properties: { path } },
        undefined,
        this.campaign,
      );
      return;
    }
    let search = query;
    const c = this.campaign;
    if (c)
      search = `${search ? `${search}&` : '?'}utm_source=${c.source}&utm_medium=${c.medium}&utm_campaign=${c.name}`;
    const page: PageContext = {
      path,
      referrer: this.page ? this.page.url : this.landing.referrer,
      search,
      title: `${title} | ${SHOP.siteName}`,
      url: `${SHOP.origin}${path}${search}`,
    };
    this.page = page;
    this.customer.emitClient(this.t, 'page', device, { name, properties: { ...page } }, page, c);
  }

  /** Shows the category page of an interest and the list of products on it. */
  viewCategory(interest: Interest): void {
    const category =
      CATEGORIES.find((c) => c.interest === interest) ?? (CATEGORIES[0] as (typeof CATEGORIES)[0]);
    this.view('Category', `/c/${category.id}`, category.name);
    this.listViewed(category.id, category.name, PRODUCTS_BY_INTEREST[interest]);
  }

  /** Searches the shop for `query` and shows the results (products of `interest`). */
  search(query: string, interest: Interest): void {
    const q = encodeURIComponent(query).replace(/%20/g, '+');
    this.view('Search', '/search', `Search: ${query}`, `?q=${q}`);
    this.step(4 * SECOND);
    this.track('Products Searched', { query });
    this.listViewed(`search:${query}`, 'Search results', PRODUCTS_BY_INTEREST[interest]);
  }

  private listViewed(listId: string, category: string, products: readonly Product[]): void {
    this.step(3 * SECOND);
    this.track('Product List Viewed', {
      list_id: listId,
      category,
      products: products
        .slice(0, 4)
        .map((p, i) => ({ product_id: p.productId, sku: p.sku, position: i + 1 })),
    });
  }

  /** Shows a product's page and tracks the product view. */
  viewProduct(product: Product): void {
    this.view('Product', `/p/${product.sku.toLowerCase()}`, product.name);
    this.step(5 * SECOND);
    const c = this.customer;
    this.track('Product Viewed', productProperties(c.world, c.country, product));
  }

  /** Tracks an event on the current page or screen, after a short pause. */
  track(event: string, properties: JsonObject): void {
    this.step(6 * SECOND);
    this.customer.emitClient(this.t, 'track', this.device, { event, properties }, this.page, this.campaign);
  }

  /** Identifies the customer on this device with `traits`, now. */
  identify(traits: JsonObject): void {
    this.customer.emitClient(this.t, 'identify', this.device, { traits }, this.page, this.campaign);
  }

  /** Links the device's anonymous id to the customer's user id. */
  alias(): void {
    this.step(SECOND);
    this.customer.emitClient(
      this.t,
      'alias',
      this.device,
      { previousId: this.device.anonymousId },
      this.page,
      this.campaign,
    );
  }

  /** Links the customer to their company account. */
  group(groupId: string, traits: JsonObject): void {
    this.step(2 * SECOND);
    this.customer.emitClient(this.t, 'group', this.device, { groupId, traits }, this.page, this.campaign);
  }
}
