/**
 * What to simulate: how many customers, over which period, from which seed.
 */

export interface SimulateOptions {
  /** How many customers (people) to simulate. */
  customers: number;
  /** Seed of the random streams: the same options give the same output, byte for byte. */
  seed: number;
  /** Start of the simulated period (inclusive). */
  start: Date;
  /** Length of the simulated period in days; every timestamp lies in [start, start + days). */
  days: number;
}

/**
 * Checks simulation options.
 *
 * @throws RangeError when the number of customers or days is not a positive integer, the seed is not
 * an integer, or the start is not a valid date.
 */
export function validateOptions(options: SimulateOptions): void {
  const { customers, seed, start, days } = options;
  if (!Number.isSafeInteger(customers) || customers < 1) {
    throw new RangeError(`customers must be a positive integer, got ${String(customers)}`);
  }
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${String(seed)}`);
  if (!Number.isSafeInteger(days) || days < 1)
    throw new RangeError(`days must be a positive integer, got ${String(days)}`);
  if (!(start instanceof Date) || Number.isNaN(start.getTime()))
    throw new RangeError('start must be a valid date');
}
