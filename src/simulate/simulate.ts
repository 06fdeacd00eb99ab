/**
 * The simulation of a whole population: every customer's own stream, merged in timestamp order.
 */

import { BinaryHeap } from '../core/binary-heap.ts';
import { PRODUCTS_BY_INTEREST } from './catalog.ts';
import { Customer } from './customer.ts';
import { planDay } from './day-plan.ts';
import { scheduleReplenish } from './replenishment.ts';
import type { SimulateOptions } from './simulate-options.ts';
import { validateOptions } from './simulate-options.ts';
import type { SimulatedMessage } from './simulated-message.ts';
import { DAY } from './time.ts';
import { visit } from './visit.ts';
import { World } from './world.ts';

function customerBefore(a: Customer, b: Customer): boolean {
  return a.nextTs < b.nextTs || (a.nextTs === b.nextTs && a.index < b.index);
}

/** Creates customer `index` and schedules the start of their story: ongoing repurchases, then day one. */
function startCustomer(world: World, index: number): Customer {
  const customer = new Customer(world, index, visit);
  const rng = customer.rng;
  // repurchase cycles already under way when the period starts
  if (customer.lifecycle === 'existing') {
    const consumables = customer.interests.flatMap((i) =>
      PRODUCTS_BY_INTEREST[i].filter((p) => p.repurchaseDays),
    );
    for (const product of rng.sample(consumables, rng.int(0, 2))) {
      const interval = (product.repurchaseDays ?? 30) * customer.paceFactor;
      scheduleReplenish(customer, product, world.start + rng.next() * interval * DAY);
    }
  }
  const firstDay = customer.firstDay;
  customer.schedule(world.dayStart(customer.tz, firstDay), () => planDay(customer, firstDay));
  return customer;
}

/**
 * Generates the messages of `options.customers` synthetic retail customers over `options.days` days
 * from `options.start`, in timestamp order. Lazy: messages are produced as they are consumed, and
 * memory is proportional to the number of customers.
 *
 * @throws RangeError when the options are invalid (see `validateOptions`).
 */
export function* simulate(options: SimulateOptions): Generator<SimulatedMessage, void, undefined> {
  validateOptions(options);
  const world = new World(options);
  // The heap is keyed on each customer's next pending item, action or message. Running the earliest
  // action in the whole population only ever schedules items at or after its own time, so messages
  // still leave in timestamp order, and nobody's session is generated before its time comes.
  const heap = new BinaryHeap<Customer>(customerBefore);
  for (let i = 0; i < options.customers; i++) {
    const customer = startCustomer(world, i);
    if (customer.refresh()) heap.push(customer);
  }
  for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
    const message = top.step();
    if (top.refresh()) heap.replaceTop(top);
    else heap.pop();
    if (message !== undefined) yield message;
  }
}
