import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlPlaneClient } from './control-plane.client.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise((r) => server?.close(r));
});

/** A server that answers 429 with Retry-After: 1 `limited` times, then 201. */
async function limitedServer(limited: number): Promise<{ url: string; calls: () => number }> {
  let calls = 0;
  server = createServer((req, res) => {
    calls += 1;
    req.resume();
    if (calls <= limited) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'rate_limited', message: 'rate limit exceeded' } }));
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: 'eft_en_0123456789abcdef' }));
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server?.address() as AddressInfo).port}`, calls: () => calls };
}

describe('control-plane client', () => {
  it('row 25: waits out a 429 as its Retry-After says, then succeeds', async () => {
    const s = await limitedServer(1);
    const client = new ControlPlaneClient(s.url, 'eft_op_0123456789abcdef');
    const t = Date.now();
    await expect(client.createEnrollmentToken('robotic_manipulation', 10)).resolves.toBe('eft_en_0123456789abcdef');
    expect(s.calls()).toBe(2);
    expect(Date.now() - t).toBeGreaterThanOrEqual(1_000);
  });

  it('row 25: gives up with the control plane message once the wait would pass its bound', async () => {
    const s = await limitedServer(10);
    const client = new ControlPlaneClient(s.url, 'eft_op_0123456789abcdef', 500);
    await expect(client.createEnrollmentToken('robotic_manipulation', 10)).rejects.toThrow('HTTP 429: rate limit exceeded');
    expect(s.calls()).toBe(1);
  });
});
