/**
 * Customer accounts: signing up and in, the traits sent with identify calls, and preference updates
 * (zero-party data).
 */

import { INTERESTS } from './catalog.ts';
import type { Customer } from './customer.ts';
import type { Session } from './session.ts';
import type { JsonObject } from './simulated-message.ts';
import { iso, SECOND } from './time.ts';

/**
 * Signs the customer up (the first identify of a prospect) or in on a device not yet known, during a
 * session; a business customer's first sign-in also links them to their company with a group call.
 */
export function signIn(customer: Customer, s: Session): void {
  const rng = customer.rng;
  const device = s.device;
  const firstTime = !customer.identified;
  if (firstTime) {
    s.view('Sign Up', '/account/signup', 'Create your account');
    customer.identified = true;
    customer.createdAt = s.t + 30 * SECOND;
  } else {
    s.view('Sign In', '/account/login', 'Sign in');
  }
  s.step(30 * SECOND);
  device.loggedIn = true;
  s.identify(identifyTraits(customer, s.t));
  if (firstTime && rng.chance(0.12)) s.alias();
  if (customer.business && !customer.groupSent) {
    customer.groupSent = true;
    s.group(customer.business.groupId, customer.business.traits);
  }
}

/** The full set of traits of a customer, as sent when they sign up or in at `ts`. */
export function identifyTraits(customer: Customer, ts: number): JsonObject {
  const traits: JsonObject = {
    email: customer.email,
    first_name: customer.firstName,
    last_name: customer.lastName,
    phone: customer.phone,
    birthday: customer.birthday,
    created_at: iso(customer.createdAt),
    city: customer.city.name,
    country: customer.country.code,
    timezone: customer.tz,
    locale: customer.city.locale,
    currency: customer.country.currency,
    interested_in: [...customer.interestedIn],
    email_opt_in: customer.consent.email && ts < customer.unsubscribedAt,
    sms_opt_in: customer.consent.sms,
    push_opt_in: customer.consent.push,
    loyalty_tier: customer.loyaltyTier,
  };
  if (customer.city.region) traits.state = customer.city.region;
  if (customer.homeMovedIn) traits.home_moved_in_at = customer.homeMovedIn;
  return traits;
}

/**
 * The customer changes the interests they told us about: on the preferences page during a session,
 * or (without a session) from a device they are logged in on, if any.
 */
export function updatePreferences(customer: Customer, s?: Session): void {
  const rng = customer.rng;
  const candidates = INTERESTS.filter((i) => !customer.interestedIn.includes(i));
  const added = rng.chance(0.35) ? 'electric_vehicle' : rng.pick(customer.interests);
  const next = customer.interestedIn.filter(() => rng.chance(0.85));
  if (!next.includes(added)) next.push(added);
  else if (candidates.length > 0) next.push(rng.pick(candidates));
  customer.interestedIn = next;
  const traits: JsonObject = { interested_in: [...next], email_opt_in: customer.emailable(customer.now) };
  if (s) {
    s.view('Preferences', '/account/preferences', 'Your preferences');
    s.step(40 * SECOND);
    s.identify(traits);
  } else {
    const device = customer.devices.find((d) => d.loggedIn);
    if (!device) return;
    customer.emitClient(customer.now, 'identify', device, { traits });
  }
}
