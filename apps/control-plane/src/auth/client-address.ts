import { isIPv4, isIPv6 } from 'node:net';

/**
 * The address a client's requests and failed credentials are counted under (rate limits and
 * lockouts, HTTP and MQTT CONNECT alike): an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a
 * dual-stack listener reports for an IPv4 client) is that IPv4 address, and an IPv6 address is its
 * /64 (`2001:db8:1:2::/64`): one host is commonly given a whole /64 and may pick a new address in it
 * at will, so counting per address would let it step past a lockout. Anything else (`unknown`) is
 * kept as it is.
 */
export function lockoutAddress(raw: string): string {
  const address = raw.trim().toLowerCase();
  // a zone id (fe80::1%eth0) names an interface, not a host
  const unzoned = address.includes('%') ? address.slice(0, address.indexOf('%')) : address;
  if (isIPv4(unzoned)) return unzoned;
  if (!isIPv6(unzoned)) return raw;
  const groups = ipv6Groups(unzoned);
  const [, , , , , mapped = 0, hi = 0, lo = 0] = groups;
  if (groups.slice(0, 5).every((g) => g === 0) && mapped === 0xffff) return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  // the WHATWG URL parser writes an IPv6 address in its canonical (RFC 5952) form
  const prefix = new URL(
    `http://[${groups
      .slice(0, 4)
      .map((g) => g.toString(16))
      .join(':')}::]`,
  ).hostname.slice(1, -1);
  return `${prefix}/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 part read as two groups). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
