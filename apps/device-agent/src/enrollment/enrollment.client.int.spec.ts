import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type EnrollRequest, hardwarePreset } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fetch, trustedFetch } from '../core/tls-trust.js';
import { LoopbackServers } from '../test-support/loopback.js';
import { makeTestCa } from '../test-support/tls.certs.js';
import { enroll, ENROLL_TIMEOUT_MS, EnrollmentError } from './enrollment.client.js';

const REQUEST: EnrollRequest = { token: 'tok-0123456789abcdef', hardwareProfile: hardwarePreset('edge-npu-trading') };
const servers = new LoopbackServers();
/** Requests the silent control planes took and never answered, as one whose transaction is still running. */
const held: IncomingMessage[] = [];
const hold = (req: IncomingMessage): void => void held.push(req);
/** The two ways the CLI enrolls: plain http with the global fetch, https verified against --ca-file. */
const planes: [string, string, Fetch][] = [];

beforeAll(async () => {
  planes.push(['http', `http://127.0.0.1:${await servers.listen(createServer(hold))}`, trustedFetch(null)]);
  const ca = await makeTestCa('fleet CA');
  const cert = await ca.issue(['127.0.0.1']);
  const https = createHttpsServer({ cert: cert.cert, key: cert.key }, hold);
  planes.push(['https with --ca-file', `https://127.0.0.1:${await servers.listen(https)}`, trustedFetch(ca.caPem)]);
}, 60_000);

afterAll(() => {
  for (const req of held) req.socket.destroy();
  servers.close();
});

async function failure(p: Promise<unknown>): Promise<EnrollmentError> {
  const err: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof EnrollmentError)) throw new Error(`expected an EnrollmentError, got ${String(err)}`);
  return err;
}

describe('enrollment request timeout', () => {
  it('waits longer than the control plane may take under load (5 s for a connection + 15 s of transaction)', () => {
    expect(ENROLL_TIMEOUT_MS).toBeGreaterThan(20_000);
  });

  it('a control plane that took the request and never answers is a timeout that may have enrolled, not "unreachable"', async () => {
    for (const [how, url, fetchWith] of planes) {
      const err = await failure(enroll(url, REQUEST, 300, fetchWith));
      expect({ how, code: err.code }).toEqual({ how, code: 'timeout' });
      expect(err.message).toContain('within 0.3 s');
      expect(err.message).toContain('may still have enrolled the device');
    }
    expect(held).toHaveLength(2);
  });

  it('a refused connection stays "unreachable": nothing reached the control plane', async () => {
    const closed = createServer();
    const port = await new LoopbackServers().listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(enroll(`http://127.0.0.1:${port}`, REQUEST, 5_000));
    expect(err.code).toBe('unreachable');
  });
});

describe("the control plane's Retry-After", () => {
  it('is read from a 429 (seconds) and a 503 (an HTTP date), and absent when the answer names none', async () => {
    const answers = [
      { status: 429, headers: { 'retry-after': '7' }, code: 'rate_limited' },
      { status: 503, headers: { 'retry-after': new Date(Date.now() + 60_000).toUTCString() }, code: 'unavailable' },
      { status: 503, headers: {}, code: 'unavailable' },
    ];
    let i = 0;
    const server = new LoopbackServers();
    const port = await server.listen(
      createServer((_req, res) => {
        const a = answers[i++] ?? answers[0];
        if (!a) return void res.end();
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end(JSON.stringify({ error: { code: a.code, message: 'try later' } }));
      }),
    );
    try {
      const rateLimited = await failure(enroll(`http://127.0.0.1:${port}`, REQUEST, 5_000));
      expect({ code: rateLimited.code, wait: rateLimited.retryAfterMs }).toEqual({ code: 'rate_limited', wait: 7_000 });
      const dated = await failure(enroll(`http://127.0.0.1:${port}`, REQUEST, 5_000));
      expect(dated.code).toBe('unavailable');
      // an HTTP date has whole seconds: within a few of the minute asked
      expect(dated.retryAfterMs).toBeGreaterThan(55_000);
      expect(dated.retryAfterMs).toBeLessThanOrEqual(60_000);
      expect((await failure(enroll(`http://127.0.0.1:${port}`, REQUEST, 5_000))).retryAfterMs).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
