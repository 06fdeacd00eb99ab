/**
 * Support tickets, opened and resolved in the help desk.
 */

import type { TicketPriority } from './catalog.ts';
import { TICKET_PRIORITIES, TICKET_SUBJECTS } from './catalog.ts';
import { clamp } from './clamp.ts';
import type { Customer } from './customer.ts';
import type { JsonObject } from './simulated-message.ts';
import { HOUR } from './time.ts';

const PRIORITY_WEIGHTS: readonly number[] = [0.3, 0.4, 0.2, 0.1];
/** Median hours to resolve a ticket, by priority (critical ones are hard and may take days). */
const RESOLUTION_HOURS: Readonly<Record<TicketPriority, number>> = {
  low: 40,
  normal: 20,
  high: 9,
  critical: 30,
};

/**
 * The customer contacts support now, out of the blue or about an order (then with a given subject
 * from the catalog); the ticket is resolved some hours later and the customer rates the help.
 */
export function openTicket(
  customer: Customer,
  priority?: TicketPriority,
  orderId?: string,
  subjectIndex?: number,
): void {
  const rng = customer.rng;
  const level = priority ?? rng.weighted(TICKET_PRIORITIES, PRIORITY_WEIGHTS);
  const ticketId = `tkt_${rng.hex(10)}`;
  const subject =
    subjectIndex !== undefined ? (TICKET_SUBJECTS[subjectIndex] ?? 'Order issue') : rng.pick(TICKET_SUBJECTS);
  const props: JsonObject = {
    ticket_id: ticketId,
    priority: level,
    subject,
    channel: rng.weighted(['email', 'chat', 'phone'], [0.45, 0.35, 0.2]),
  };
  if (orderId) props.order_id = orderId;
  customer.server(customer.now, 'Ticket Opened', props);
  const hours = clamp(rng.around(RESOLUTION_HOURS[level], level === 'critical' ? 0.9 : 0.7), 0.25, 24 * 20);
  customer.server(customer.now + hours * HOUR, 'Ticket Resolved', {
    ticket_id: ticketId,
    priority: level,
    resolution_hours: Math.round(hours * 10) / 10,
    satisfaction: rng.weighted([1, 2, 3, 4, 5], [0.08, 0.1, 0.17, 0.3, 0.35]),
  });
}
