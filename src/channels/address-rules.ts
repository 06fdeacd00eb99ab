import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Where outbound requests built from data (webhook URLs, browser push endpoints) may go. The host
 * is resolved once, every address it resolves to is checked, and the request is then pinned to
 * the checked address, so a DNS answer that changes between check and connect (rebinding) cannot
 * reach an internal service.
 */
const DENIED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  DENIED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  DENIED.addSubnet(net, prefix, 'ipv6');
}

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`), which
 * is checked as the IPv4 address it is. (A BlockList rule for `::ffff:0:0/96` would match every
 * IPv4 address, since BlockList compares across the mapping.)
 */
function mappedIpv4(address: string): string | null {
  const m = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (m === null) return null;
  if (m[1] !== undefined) return m[1];
  const hi = Number.parseInt(m[2]!, 16);
  const lo = Number.parseInt(m[3]!, 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** Whether an address is in a denied range. */
function denied(address: string, family: 4 | 6): boolean {
  const v4 = family === 6 ? mappedIpv4(address) : null;
  if (v4 !== null) return DENIED.check(v4, 'ipv4');
  return DENIED.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export interface ResolvedTarget {
  readonly url: URL;
  readonly address: string;
  readonly family: 4 | 6;
}

/** Thrown when a target address is refused; never worth retrying. */
export class AddressRefused extends Error {
  override name = 'AddressRefused';
}

/** An allow-list of CIDRs (`127.0.0.0/8`, `::1/128`), single addresses and host names. */
export class AllowList {
  private readonly blocks = new BlockList();
  private readonly hosts = new Set<string>();

  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const [addr, prefix] = e.split('/');
      const family = isIP(addr ?? '');
      if (family === 0) this.hosts.add(e.toLowerCase());
      else if (prefix === undefined) this.blocks.addAddress(addr!, family === 4 ? 'ipv4' : 'ipv6');
      else this.blocks.addSubnet(addr!, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  allowsHost(host: string): boolean {
    return this.hosts.has(host.toLowerCase());
  }

  allowsAddress(address: string, family: 4 | 6): boolean {
    return this.blocks.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Why an allow-list entry is not valid, or null. */
export function checkAllowEntry(entry: string): string | null {
  const [addr, prefix, extra] = entry.split('/');
  const family = isIP(addr ?? '');
  if (extra !== undefined) return 'is not a CIDR, address or host name';
  if (family === 0) {
    if (prefix !== undefined) return 'is not a CIDR (the address part is not an IP address)';
    return /^[A-Za-z0-9.-]{1,253}$/.test(entry) ? null : 'is not a host name';
  }
  if (prefix === undefined) return null;
  const n = Number(prefix);
  const max = family === 4 ? 32 : 128;
  return Number.isInteger(n) && n >= 0 && n <= max ? null : `has a prefix that is not 0–${max}`;
}

/**
 * Resolves the URL's host and checks every address against the deny ranges (private, loopback,
 * link-local, multicast, reserved), unless the host or the address is on the allow-list.
 */
export async function resolveTarget(raw: string, allow: AllowList): Promise<ResolvedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AddressRefused(`'${raw.slice(0, 200)}' is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AddressRefused(`${url.protocol} URLs are not allowed; use http or https`);
  }
  if (url.username !== '' || url.password !== '')
    throw new AddressRefused('URLs with credentials are not allowed');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const literal = isIP(host);
  const addresses =
    literal !== 0
      ? [{ address: host, family: literal as 4 | 6 }]
      : await lookup(host, { all: true, verbatim: true }).catch((e: unknown) => {
          throw new AddressRefused(`cannot resolve ${host}: ${(e as Error).message}`);
        });
  if (addresses.length === 0) throw new AddressRefused(`${host} resolves to no address`);
  const hostAllowed = allow.allowsHost(host);
  for (const a of addresses) {
    const family = a.family as 4 | 6;
    if (!hostAllowed && denied(a.address, family)) {
      if (!allow.allowsAddress(a.address, family)) {
        throw new AddressRefused(
          `${host} resolves to ${a.address}, a private, loopback or reserved address (add it to the allow-list to permit it)`,
        );
      }
    }
  }
  const first = addresses[0]!;
  return { url, address: first.address, family: first.family as 4 | 6 };
}
