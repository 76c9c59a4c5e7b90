import { describe, expect, it } from 'vitest';
import { PRE_AUTH_MAX_PACKET_BYTES, PRE_AUTH_MAX_TOTAL_BYTES, PacketSizeGuard } from './packet-size-guard.js';

/** A PUBLISH-shaped packet: type byte, remaining-length varint, then `length` filler bytes. */
function packet(length: number): Buffer {
  const varint: number[] = [];
  let n = length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    varint.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x30, ...varint]), Buffer.alloc(length)]);
}

describe('PacketSizeGuard: issue 10 item 3 (bounded packets, decided from the fixed header)', () => {
  it('issue 10 item 3: refuses a declared length above the limit from its first length byte, before any body', () => {
    const g = new PacketSizeGuard(256 * 1024);
    g.authenticate();
    expect(g.inspect(Buffer.from([0x30, 0xff, 0xff, 0xff]))).toMatch(/declares at least 2097151 bytes, limit 262144/);
  });

  it('issue 10 item 3: follows packet boundaries across chunks, including a length split between them and empty packets', () => {
    const g = new PacketSizeGuard(1024);
    g.authenticate();
    const stream = Buffer.concat([packet(1000), Buffer.from([0xc0, 0x00]), packet(1024), packet(200)]);
    for (let i = 0; i < stream.length; i += 7) expect(g.inspect(stream.subarray(i, i + 7))).toBeNull();
    expect(g.inspect(packet(1025))).toMatch(/declares 1025 bytes/);
  });

  it('issue 10 item 3: holds a connection to a few KiB per packet and in total until it authenticates', () => {
    const g = new PacketSizeGuard(256 * 1024);
    expect(g.inspect(packet(PRE_AUTH_MAX_PACKET_BYTES + 1))).toMatch(/before authentication/);
    const chatty = new PacketSizeGuard(256 * 1024);
    let reason: string | null = null;
    for (let sent = 0; sent <= PRE_AUTH_MAX_TOTAL_BYTES && reason === null; sent += 1000) reason = chatty.inspect(packet(997));
    expect(reason).toMatch(/more than 32768 bytes before authentication/);
    const device = new PacketSizeGuard(256 * 1024);
    device.authenticate();
    expect(device.inspect(packet(200 * 1024))).toBeNull();
  });

  it('issue 10 item 3: refuses a remaining length longer than four bytes as malformed', () => {
    const g = new PacketSizeGuard(Number.MAX_SAFE_INTEGER);
    g.authenticate();
    expect(g.inspect(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80]))).toBe('malformed remaining length');
  });
});
