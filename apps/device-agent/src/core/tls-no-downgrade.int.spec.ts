import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hardwarePreset, type HybridPlacement } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from '../agent.js';
import { ArtifactDownloader } from '../artifact/artifact.downloader.js';
import { enroll } from '../enrollment/enrollment.client.js';
import { CloudForwarder, type RemoteAttempt } from '../hybrid/cloud.forwarder.js';
import { testCredentials } from '../test-support/agent.fixture.js';
import { captureLogs } from '../test-support/log.capture.js';
import { LoopbackServers } from '../test-support/loopback.js';
import { testSession } from '../test-support/mqtt.session.js';
import { TestSigner } from '../test-support/test-signer.js';
import { makeTestCa, type TestCert } from '../test-support/tls.certs.js';
import { systemClock } from './clock.js';
import { trustedFetch } from './tls-trust.js';

const servers = new LoopbackServers();
let pinned = '';
let good: TestCert; // signed by the pinned CA, for 127.0.0.1
let foreign: TestCert; // another CA's, for 127.0.0.1
let work = '';

beforeAll(async () => {
  const ours = await makeTestCa('fleet CA');
  const theirs = await makeTestCa('someone else');
  pinned = ours.caPem;
  [good, foreign] = await Promise.all([ours.issue(['127.0.0.1']), theirs.issue(['127.0.0.1'])]);
  work = await mkdtemp(path.join(tmpdir(), 'ef-agent-nodowngrade-'));
}, 60_000);

afterAll(async () => {
  servers.close();
  await rm(work, { recursive: true, force: true });
});

const listen = (server: Server): Promise<number> => servers.listen(server);

/** A plain-HTTP server counting the requests that reached it; answers every one with `body`. */
async function plainHttp(body: Buffer | string): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const port = await listen(
    createHttpServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    }),
  );
  return { url: `http://127.0.0.1:${port}`, requests: () => requests };
}

const ARTIFACT = randomBytes(1_024);

describe('no downgrade: with a pinned CA the agent talks TLS or not at all', () => {
  it('the artifact downloader refuses an http:// artifact URL, naming why, before any request; unpinned it downloads', async () => {
    const server = await plainHttp(ARTIFACT);
    const ref = { url: `${server.url}/api/v1/artifacts/x`, sha256: createHash('sha256').update(ARTIFACT).digest('hex'), sizeBytes: 1_024 };
    const downloader = (caPem: string | null) =>
      new ArtifactDownloader({
        modelsDir: path.join(work, randomBytes(4).toString('hex')),
        username: 'd',
        password: 'p',
        fetch: trustedFetch(caPem, 'artifact URL'),
      });
    await expect(downloader(pinned).download(ref)).rejects.toThrow(
      /artifact URL http:\/\/127\.0\.0\.1:\d+\/api\/v1\/artifacts\/x refused: a CA is pinned .* sends nothing over http:\/\/ in clear/,
    );
    expect(server.requests(), 'requests (with the device secret) sent in clear').toBe(0);
    // the refusal comes from the pin: a device without one still downloads over http
    await downloader(null).download(ref);
    expect(server.requests()).toBe(1);
  });

  it('enrollment with --ca-file refuses an http:// control plane URL before sending the token', async () => {
    const server = await plainHttp('{}');
    await expect(
      enroll(
        server.url,
        { token: 't'.repeat(32), hardwareProfile: hardwarePreset('robot-npu-arm') },
        5_000,
        trustedFetch(pinned, 'control plane URL'),
      ),
    ).rejects.toThrow(/control plane URL http:\/\/127\.0\.0\.1:\d+\/api\/v1\/devices\/enroll refused: a CA is pinned/);
    expect(server.requests()).toBe(0);
  });

  it('the MQTT session refuses an mqtt:// or ws:// broker URL, logging why, and sends it nothing', async () => {
    let bytes = 0;
    const port = await listen(createTcpServer((s) => s.on('data', (d: Buffer) => (bytes += d.length))));
    for (const url of [`mqtt://127.0.0.1:${port}`, `ws://127.0.0.1:${port}`]) {
      const { logger, logs } = captureLogs<{ msg: string; level: string; url: string }>('info');
      expect(() => testSession(url, { caPem: pinned, logger })).toThrow(/MQTT broker URL .* refused: a CA is pinned/);
      expect(logs.filter((l) => l.level === 'error' && l.url === url && /refused: a CA is pinned/.test(l.msg))).toHaveLength(1);
    }
    // mqtts is accepted (it is the pinned CA that then checks the broker); unpinned, plain mqtt is as before
    expect(() => testSession(`mqtts://127.0.0.1:${port}`, { caPem: pinned })).not.toThrow();
    expect(() => testSession(`mqtt://127.0.0.1:${port}`)).not.toThrow();
    expect(bytes).toBe(0);
  });

  it('an agent whose credentials pin a CA will not start on a plain broker URL (enrolled or --mqtt-url), naming why', () => {
    const creds = { ...testCredentials(randomUUID(), new TestSigner()), tls: { caCertificate: pinned } };
    const { logger, logs } = captureLogs<{ msg: string; level: string }>('info');
    for (const over of [
      { credentials: { ...creds, mqtt: { ...creds.mqtt, url: 'mqtt://127.0.0.1:1883' } } },
      { credentials: creds, mqttUrl: 'mqtt://127.0.0.1:1883' },
    ])
      expect(() => new DeviceAgent({ dataDir: work, logger, seed: 1, ...over })).toThrow(
        /MQTT broker URL mqtt:\/\/127\.0\.0\.1:1883\/? refused: a CA is pinned/,
      );
    expect(logs.filter((l) => l.level === 'error' && /refused: a CA is pinned/.test(l.msg))).toHaveLength(2);
  });
});

describe('the hybrid forwarder and the pinned CA', () => {
  const signer = new TestSigner();
  const answer = JSON.stringify({ model_name: 'm', outputs: [{ name: 'y', shape: [1], datatype: 'FP32', data: [1] }] });

  /** A cloud node stand-in over https with `c`, counting requests. */
  async function httpsNode(c: TestCert): Promise<{ url: string; requests: () => number }> {
    let requests = 0;
    const port = await listen(
      createHttpsServer({ cert: c.cert, key: c.key }, (req, res) => {
        requests++;
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
      }),
    );
    return { url: `https://127.0.0.1:${port}`, requests: () => requests };
  }

  function forwarder(caPem: string | null): {
    f: CloudForwarder;
    attempts: RemoteAttempt[];
    logs: { msg: string; level: string; url?: string }[];
  } {
    const attempts: RemoteAttempt[] = [];
    const { logger, logs } = captureLogs<{ msg: string; level: string; url?: string }>('info');
    const f = new CloudForwarder({ clock: systemClock, logger, onAttempt: (a) => attempts.push(a), caPem, random: () => 0 });
    return { f, attempts, logs };
  }

  const placement = (urls: string[]): HybridPlacement => ({
    nodes: urls.map((url, i) => ({ deviceId: `00000000-0000-4000-8000-00000000000${i}`, url })),
    grant: signer.grant('00000000-0000-4000-8000-0000000000ff', 'customer_support_agent'),
    forwardOnLatency: false,
    latencyTargetMs: 50,
  });
  const body = Buffer.from('{"inputs":[]}');

  it('reaches an https cloud node whose certificate the pinned CA signed (not the system roots), refuses one of another CA', async () => {
    const ours = await httpsNode(good);
    const theirs = await httpsNode(foreign);
    const { f, logs } = forwarder(pinned);
    try {
      f.setPlacement(placement([theirs.url, ours.url]));
      const reply = await f.forward('/v2/models/m/infer', {}, body, 5_000);
      expect(reply?.status).toBe(200);
      expect(ours.requests()).toBe(1);
      expect(theirs.requests()).toBe(0);
      expect(logs).toContainEqual(expect.objectContaining({ msg: 'cloud node failed; skipped for a while', url: theirs.url }));
    } finally {
      f.stop();
    }
    // without the pin the system roots decide, and they do not know our CA
    const unpinned = forwarder(null);
    try {
      unpinned.f.setPlacement(placement([ours.url]));
      expect(await unpinned.f.forward('/v2/models/m/infer', {}, body, 5_000)).toBeNull();
    } finally {
      unpinned.f.stop();
    }
  });

  it('refuses a plain http cloud node off this machine without contacting it, logging why once; on loopback lets it through', async () => {
    const local = await plainHttp(answer);
    // an address off the machine (TEST-NET-1): were it tried, the attempt would be counted
    const remote = 'http://192.0.2.1:8701';
    const { f, logs, attempts } = forwarder(pinned);
    try {
      f.setPlacement(placement([remote]));
      f.setPlacement(placement([remote])); // a re-published placement (fresh grant) logs nothing new
      expect(f.canForward()).toBe(false);
      expect(await f.forward('/v2/models/m/infer', {}, body, 2_000)).toBeNull();
      expect(attempts).toEqual([]);
      const refusals = logs.filter(
        (l) => l.level === 'error' && /cloud node .* URL http:\/\/192\.0\.2\.1:8701\/ refused: a CA is pinned/.test(l.msg),
      );
      expect(refusals).toHaveLength(1);

      f.setPlacement(placement([remote, local.url]));
      const reply = await f.forward('/v2/models/m/infer', {}, body, 5_000);
      expect(reply?.status).toBe(200);
      expect(local.requests()).toBe(1);
    } finally {
      f.stop();
    }
  });
});
