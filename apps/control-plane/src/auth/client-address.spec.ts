import { describe, expect, it } from 'vitest';
import { lockoutAddress } from './client-address.js';

describe('lockoutAddress: the address lockouts and rate limits count under', () => {
  it('counts an IPv4-mapped IPv6 address as its IPv4 address, in any spelling', () => {
    expect(lockoutAddress('1.2.3.4')).toBe('1.2.3.4');
    expect(lockoutAddress('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(lockoutAddress('::FFFF:1.2.3.4')).toBe('1.2.3.4');
    expect(lockoutAddress('::ffff:0102:0304')).toBe('1.2.3.4');
    expect(lockoutAddress('0:0:0:0:0:ffff:1.2.3.4')).toBe('1.2.3.4');
  });

  it('counts an IPv6 address by its /64, whatever its spelling, zone or interface part', () => {
    const net = '2001:db8:1:2::/64';
    for (const a of ['2001:db8:1:2::1', '2001:DB8:1:2:aaaa:bbbb:cccc:dddd', '2001:0db8:0001:0002:0:0:0:9', '2001:db8:1:2::1%eth0'])
      expect(lockoutAddress(a)).toBe(net);
    expect(lockoutAddress('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(lockoutAddress('2001:db8::1')).toBe('2001:db8::/64');
    expect(lockoutAddress('::1')).toBe('::/64');
    expect(lockoutAddress('fe80::1%eth0')).toBe('fe80::/64');
  });

  it('keeps what is not an IP address as it is', () => {
    expect(lockoutAddress('unknown')).toBe('unknown');
    expect(lockoutAddress('::ffff:999.1.1.1')).toBe('::ffff:999.1.1.1');
  });
});
