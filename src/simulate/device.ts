/**
 * The browsers and apps a customer uses.
 */

import type { Country, DeviceProfile } from './catalog.ts';
import type { Rng } from './random.ts';

/** One of a customer's browsers or app installations. */
export interface Device {
  readonly profile: DeviceProfile;
  readonly app: boolean;
  readonly anonymousId: string;
  readonly deviceId: string;
  readonly ip: string;
  /** Whether the customer has logged in on this device (its messages then carry the userId). */
  loggedIn: boolean;
}

/** Draws a new, not yet logged-in device of a given profile, with an address in the customer's country. */
export function makeDevice(rng: Rng, profile: DeviceProfile, country: Country): Device {
  const app = profile.kind === 'ios_app' || profile.kind === 'android_app';
  return {
    profile,
    app,
    anonymousId: rng.uuid(),
    deviceId: app ? rng.uuid(true) : '',
    ip: `${rng.pick(country.ipOctets)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
    loggedIn: false,
  };
}
