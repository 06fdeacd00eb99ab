/**
 * Why a customer starts a visit, and where they arrive from.
 */

import type { Interest, Product, TrafficKind } from './catalog.ts';
import type { CampaignContext } from './simulated-message.ts';

/** Where a visit comes from: the kind of traffic, the referring page and any campaign. */
export interface Landing {
  kind: TrafficKind;
  referrer: string;
  campaign?: CampaignContext;
}

/** What a visit is about and how likely it ends in a purchase. */
export interface Intent {
  interest?: Interest;
  /** Products the visit is about (e-mail link, push offer, replenishment, wish list). */
  products?: readonly Product[];
  /** Probability of adding the intended products to the cart and of checking out. */
  buy: number;
  landing?: Landing;
  coupon?: string;
}
