/**
 * Money amounts: rounding to a currency's decimals and local shelf prices.
 */

import type { Country } from './catalog.ts';

/** Rounds an amount to `decimals` decimal places. */
export function money(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/**
 * Converts a US dollar price into a market's currency, rounded the way shops price there: whole tens
 * for large amounts in currencies without cents, charm prices (16.99) for the others.
 */
export function localPrice(usd: number, country: Country): number {
  if (country.usdRate === 1) return usd;
  const value = usd * country.usdRate;
  if (country.decimals === 0) return value >= 1000 ? Math.round(value / 10) * 10 : Math.round(value);
  // charm pricing: 17.23 becomes 16.99
  return value >= 1 ? money(Math.round(value) - 0.01, 2) : money(value, 2);
}
