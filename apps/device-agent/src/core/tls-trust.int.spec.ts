import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { hardwarePreset } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactDownloader } from '../artifact/artifact.downloader.js';
import { enroll } from '../enrollment/enrollment.client.js';
import { captureLogs } from '../test-support/log.capture.js';
import { LoopbackServers } from '../test-support/loopback.js';
import { testSession } from '../test-support/mqtt.session.js';
import { makeTestCa, type TestCert } from '../test-support/tls.certs.js';
import { readCaFile, trustedFetch } from './tls-trust.js';

const ARTIFACT = randomBytes(4_096);
const servers = new LoopbackServers();
let pinned = ''; // the CA the device was handed at enrollment
let pinnedFile = '';
let good: TestCert; // ours, for 127.0.0.1
let foreign: TestCert; // another CA's, for 127.0.0.1
let misnamed: TestCert; // ours, but for another host name
let work = '';

beforeAll(async () => {
  const ours = await makeTestCa('fleet CA');
  const theirs = await makeTestCa('someone else');
  pinned = ours.caPem;
  pinnedFile = ours.caFile;
  [good, foreign, misnamed] = await Promise.all([ours.issue(['127.0.0.1']), theirs.issue(['127.0.0.1']), ours.issue(['cp.other.example'])]);
  work = await mkdtemp(path.join(tmpdir(), 'ef-agent-tls-'));
}, 60_000);

afterAll(async () => {
  servers.close();
  await rm(work, { recursive: true, force: true });
});

const listen = (server: Server): Promise<number> => servers.listen(server);

/** An HTTPS control plane stand-in: artifacts on GET, an API error on POST; counts the requests that reached it. */
async function httpsServer(c: TestCert): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createHttpsServer({ cert: c.cert, key: c.key }, (req, res) => {
    requests++;
    if (req.method === 'GET') return res.writeHead(200, { 'content-length': ARTIFACT.length }).end(ARTIFACT);
    res
      .writeHead(401, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 'unauthorized', message: 'bad token' } }));
  });
  const port = await listen(server);
  return { url: `https://127.0.0.1:${port}`, requests: () => requests };
}

/** An mqtts broker stand-in: counts the bytes a client sent it after the handshake (its CONNECT, with the secret). */
async function tlsBroker(c: TestCert): Promise<{ url: string; received: () => number }> {
  let received = 0;
  const server = createTlsServer({ cert: c.cert, key: c.key }, (socket) => {
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  const port = await listen(server);
  return { url: `mqtts://127.0.0.1:${port}`, received: () => received };
}

const request = { token: 't'.repeat(32), hardwareProfile: hardwarePreset('robot-npu-arm') };

describe('the agent trusts the CA pinned at enrollment and nothing else', () => {
  it('enrollment refuses an API whose certificate another CA signed, or that names another host, and says which', async () => {
    const trusting = trustedFetch(await readCaFile(pinnedFile));
    const theirs = await httpsServer(foreign);
    await expect(enroll(theirs.url, request, 5_000, trusting)).rejects.toThrow(
      /server refused: its certificate is not signed by the trusted CA/,
    );
    const wrongName = await httpsServer(misnamed);
    await expect(enroll(wrongName.url, request, 5_000, trusting)).rejects.toThrow(
      /server refused: its certificate is not valid for this host name/,
    );
    expect(theirs.requests() + wrongName.requests(), 'requests that reached a refused server').toBe(0);
    // the same client reaches our own server (its answer is an API error, which is as far as this stand-in goes)
    const ours = await httpsServer(good);
    await expect(enroll(ours.url, request, 5_000, trusting)).rejects.toThrow(/enrollment refused \(HTTP 401 unauthorized\)/);
    expect(ours.requests()).toBe(1);
    // and the system's public roots do not stand in for the pinned CA (no trust on first use)
    await expect(enroll(ours.url, request, 5_000)).rejects.toThrow(/not signed by the trusted CA/);
  });

  it('the artifact downloader refuses a server of another CA and downloads from ours', async () => {
    const download = async (url: string): Promise<string> => {
      const d = new ArtifactDownloader({
        modelsDir: path.join(work, randomBytes(4).toString('hex')),
        username: 'd',
        password: 'p',
        fetch: trustedFetch(pinned),
      });
      const sha256 = createHash('sha256').update(ARTIFACT).digest('hex');
      const tmp = await d.download({ url: `${url}/api/v1/artifacts/${sha256}`, sha256, sizeBytes: ARTIFACT.length });
      return createHash('sha256')
        .update(await readFile(tmp))
        .digest('hex');
    };
    const theirs = await httpsServer(foreign);
    await expect(download(theirs.url)).rejects.toThrow(/failed: server refused: its certificate is not signed by the trusted CA/);
    expect(theirs.requests()).toBe(0);
    expect(await download((await httpsServer(good)).url)).toBe(createHash('sha256').update(ARTIFACT).digest('hex'));
  });

  it('the MQTT session refuses a broker of another CA or another name before sending its credentials, and logs why', async () => {
    const attempt = async (c: TestCert): Promise<{ logs: { msg: string }[]; received: number }> => {
      const broker = await tlsBroker(c);
      const { logger, logs } = captureLogs<{ msg: string }>('info');
      const session = testSession(broker.url, { caPem: pinned, logger, reconnectBaseMs: 200 });
      session.start();
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && broker.received() === 0 && !logs.some((l) => l.msg.startsWith('mqtt broker refused'))) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await session.stop();
      return { logs, received: broker.received() };
    };
    const theirs = await attempt(foreign);
    expect(theirs.logs.map((l) => l.msg)).toContainEqual(
      expect.stringMatching(/^mqtt broker refused: its certificate is not signed by the trusted CA/),
    );
    expect(theirs.received, 'bytes (a CONNECT with the device secret) sent to the foreign broker').toBe(0);
    const wrongName = await attempt(misnamed);
    expect(wrongName.logs.map((l) => l.msg)).toContainEqual(
      expect.stringMatching(/^mqtt broker refused: its certificate is not valid for this host name/),
    );
    expect(wrongName.received).toBe(0);
    // our broker gets the CONNECT
    expect((await attempt(good)).received).toBeGreaterThan(0);
  });

  it('--ca-file must hold a CA certificate', async () => {
    await expect(readCaFile(path.join(work, 'missing.pem'))).rejects.toThrow(/--ca-file .*missing\.pem cannot be read/);
    const leaf = path.join(work, 'leaf.pem');
    await writeFile(leaf, good.cert);
    await expect(readCaFile(leaf)).rejects.toThrow(/is not a CA certificate/);
  });
});
