import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A stand-in control plane that records each request's headers and answers with the status a test sets. */
let server: Server;
const seen: IncomingHttpHeaders[] = [];
let status = 200;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // read once by getConfig, on first use
  process.env.CONTROL_PLANE_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('checkOperatorToken', () => {
  it("row 25: passes the browser's address on, so the control plane's lockout counts it and not the dashboard's", async () => {
    const { checkOperatorToken } = await import('./control-plane');
    status = 200;
    expect(await checkOperatorToken('eft_op_0123456789abcdef', '203.0.113.9')).toBe('valid');
    expect(seen.at(-1)?.['x-forwarded-for']).toBe('203.0.113.9');
    expect(await checkOperatorToken('eft_op_0123456789abcdef', null)).toBe('valid');
    expect(seen.at(-1)?.['x-forwarded-for']).toBeUndefined();
  });

  it('row 25: tells a lockout (429) apart from an unreachable control plane', async () => {
    const { checkOperatorToken } = await import('./control-plane');
    status = 429;
    expect(await checkOperatorToken('eft_op_0123456789abcdef', '203.0.113.9')).toBe('rate_limited');
    status = 502;
    expect(await checkOperatorToken('eft_op_0123456789abcdef', '203.0.113.9')).toBe('unreachable');
  });
});
