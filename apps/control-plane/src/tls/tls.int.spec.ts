import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startHarness, type Harness } from '../test-support/harness.js';
import { connectOverTls, enrollOverHttps, httpsCall as https } from '../test-support/tls-client.js';
import { generateCa } from './certificate-authority.js';

let h: Harness;
let ca = '';
let tlsPort = 0;

beforeAll(async () => {
  tlsPort = await freePort();
  h = await startHarness({ TLS: 'on', MQTT_EMBEDDED_TLS_PORT: String(tlsPort) });
  ca = await readFile(path.join(h.dataDir, 'tls', 'ca.pem'), 'utf8');
}, 120_000);

afterAll(async () => {
  await h.close();
});

function plainHttp(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => resolve(res.statusCode ?? 0));
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** How one connection attempt ends: `connected` (CONNACK accepted), or the error or close that ended it. */
function outcome(url: string, options: mqtt.IClientOptions): Promise<string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, options);
    const done = (what: string): void => {
      client.end(true);
      resolve(what);
    };
    client.once('connect', () => done('connected'));
    client.once('error', (e: Error & { code?: unknown }) => done(`error ${String(e.code)} ${e.message}`));
    client.once('close', () => done('closed'));
  });
}

const enroll = () => enrollOverHttps(h.cp, ca);

describe('TLS=on with a generated CA', () => {
  it('serves the API over HTTPS only: a client trusting the CA is answered, plain HTTP on the port is not', async () => {
    expect(h.cp.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await https('GET', `${h.cp.url}/healthz`, ca)).status).toBe(200);
    expect((await https('GET', `${h.cp.url}/readyz`, ca)).status).toBe(200);
    await expect(plainHttp(h.cp.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
    // a client that trusts another CA does not get through
    const other = (await generateCa('another CA')).certPem;
    await expect(https('GET', `${h.cp.url}/healthz`, other)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('hands the enrolled device the CA and the https and mqtts URLs, and the device connects over mqtts trusting only that CA', async () => {
    const device = await enroll();
    expect(device.tls).toEqual({ caCertificate: ca, apiUrl: h.cp.url });
    expect(device.mqtt.url).toBe(`mqtts://127.0.0.1:${tlsPort}`);
    const client = await connectOverTls(device);
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it('a plain MQTT client gets no session on the TLS port, and the plain MQTT port is closed', async () => {
    const device = await enroll();
    const options = {
      clientId: device.deviceId,
      username: device.deviceId,
      password: device.deviceSecret,
      protocolVersion: 4 as const,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
    };
    // the TLS server waits for a ClientHello and takes the CONNECT packet for a broken one
    expect(await outcome(`mqtt://127.0.0.1:${tlsPort}`, options)).not.toBe('connected');
    // nothing of ours listens there (ECONNREFUSED, unless another test's process took the free port since)
    expect(await outcome(`mqtt://127.0.0.1:${h.config.MQTT_EMBEDDED_PORT}`, options)).not.toBe('connected');
    // the positive control: the same client over TLS gets its session
    expect(await outcome(`mqtts://127.0.0.1:${tlsPort}`, { ...options, ca })).toBe('connected');
  });
});
