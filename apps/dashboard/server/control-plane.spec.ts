import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A stand-in control plane that records each request's headers and answers with the status a test sets. */
let server: Server;
const seen: (IncomingHttpHeaders & { ':method'?: string; ':path'?: string })[] = [];
let status = 200;
let body = '{}';

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ ...req.headers, ':method': req.method, ':path': req.url });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
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

describe('sessions', () => {
  it('sign-in exchanges the token for a session (POST /api/v1/sessions) and keeps only the session', async () => {
    const { openSession } = await import('./control-plane');
    status = 201;
    body = JSON.stringify({ session: 'eft_ses_0123456789abcdef', expiresAt: '2026-12-06T18:00:00.000Z', name: 'n', role: 'admin' });
    expect(await openSession('eft_op_0123456789abcdef', '203.0.113.9')).toEqual({
      check: 'valid',
      session: 'eft_ses_0123456789abcdef',
      expiresAt: new Date('2026-12-06T18:00:00.000Z'),
    });
    expect(seen.at(-1)).toMatchObject({ ':method': 'POST', ':path': '/api/v1/sessions', authorization: 'Bearer eft_op_0123456789abcdef' });
    status = 401;
    expect(await openSession('eft_op_0123456789abcdef')).toEqual({ check: 'invalid' });
    status = 429;
    expect(await openSession('eft_op_0123456789abcdef')).toEqual({ check: 'rate_limited' });
    // an answer without a session is not a sign-in
    status = 201;
    body = '{}';
    expect(await openSession('eft_op_0123456789abcdef')).toEqual({ check: 'unreachable' });
  });

  it('sign-out ends the session at the control plane (DELETE /api/v1/sessions/current)', async () => {
    const { closeSession } = await import('./control-plane');
    status = 204;
    body = '';
    expect(await closeSession('eft_ses_0123456789abcdef', '203.0.113.9')).toBe(true);
    expect(seen.at(-1)).toMatchObject({
      ':method': 'DELETE',
      ':path': '/api/v1/sessions/current',
      authorization: 'Bearer eft_ses_0123456789abcdef',
    });
    status = 401;
    expect(await closeSession('eft_ses_0123456789abcdef')).toBe(true);
    status = 502;
    expect(await closeSession('eft_ses_0123456789abcdef')).toBe(false);
  });
});
