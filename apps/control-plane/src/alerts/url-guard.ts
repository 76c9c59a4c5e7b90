import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { AppError } from '../errors.js';

/** Addresses a webhook must not reach unless allowed: loopback, private, link-local (cloud metadata), CGNAT, multicast, reserved. */
const FORBIDDEN_V4 = [
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
] as const;
const FORBIDDEN_V6 = [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const;

function forbidden(): net.BlockList {
  const b = new net.BlockList();
  for (const [a, p] of FORBIDDEN_V4) b.addSubnet(a, p, 'ipv4');
  for (const [a, p] of FORBIDDEN_V6) b.addSubnet(a, p, 'ipv6');
  return b;
}

/** Parses `WEBHOOK_ALLOWED_CIDRS` ("127.0.0.1/32,10.1.0.0/16"); a malformed entry throws naming it. */
export function parseAllowList(text: string): net.BlockList {
  const allow = new net.BlockList();
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [addr = '', bits] = entry.split('/');
    const family = net.isIPv4(addr) ? 'ipv4' : net.isIPv6(addr) ? 'ipv6' : null;
    const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
    if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 'ipv4' ? 32 : 128))
      throw new Error(`WEBHOOK_ALLOWED_CIDRS: "${entry}" is not an address or CIDR`);
    allow.addSubnet(addr, prefix, family);
  }
  return allow;
}

export interface ResolvedTarget {
  url: URL;
  /** The address checked, which the request must connect to (no second resolution an attacker's DNS could answer differently). */
  address: string;
  family: 4 | 6;
}

/**
 * Refuses webhook URLs that resolve to an internal address (SSRF), unless the allow-list covers it.
 * Every address the name resolves to is checked (an attacker's DNS can answer a public and a
 * private one); the answer pins the one to connect to. Run at creation and again before every
 * delivery, so a name re-pointed after creation (DNS rebinding) is refused then.
 */
export class UrlGuard {
  private readonly blocked = forbidden();

  constructor(
    private readonly allow: net.BlockList,
    private readonly resolve: (host: string) => Promise<{ address: string; family: number }[]> = (host) =>
      lookup(host, { all: true, verbatim: true }),
  ) {}

  async check(raw: string): Promise<ResolvedTarget> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new AppError('invalid_request', 'webhook url is not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('invalid_request', 'webhook url must be http or https');
    if (url.username || url.password) throw new AppError('invalid_request', 'webhook url must not carry credentials');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addrs: { address: string; family: number }[];
    if (net.isIP(host)) addrs = [{ address: host, family: net.isIP(host) }];
    else {
      try {
        addrs = await this.resolve(host);
      } catch (e) {
        throw new AppError('invalid_request', `webhook host ${host} does not resolve: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (addrs.length === 0) throw new AppError('invalid_request', `webhook host ${host} does not resolve`);
    for (const a of addrs) {
      if (!this.isAllowed(a.address, a.family === 6 ? 'ipv6' : 'ipv4'))
        throw new AppError(
          'invalid_request',
          `webhook url ${host} resolves to ${a.address}, an internal (loopback, private, link-local or metadata) address; allow it with WEBHOOK_ALLOWED_CIDRS`,
        );
    }
    const first = addrs[0] as { address: string; family: number };
    return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
  }

  private isAllowed(address: string, family: 'ipv4' | 'ipv6'): boolean {
    if (this.allow.check(address, family)) return true;
    // an IPv4-mapped IPv6 address is the IPv4 address it carries
    const mapped = family === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
    if (mapped) return this.isAllowed(mapped, 'ipv4');
    if (family === 'ipv6' && /^::ffff:/i.test(address)) return false;
    return !this.blocked.check(address, family);
  }
}
