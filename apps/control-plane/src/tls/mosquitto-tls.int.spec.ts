import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { topics } from '@edge-fleet/shared';
import { Mosquitto } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { connectOverTls, enrollOverHttps, httpsCall } from '../test-support/tls-client.js';
import { generateCa, issueServerCertificate, type PemPair } from './certificate-authority.js';

/** Mosquitto serving mqtts (deploy/mosquitto/tls.conf) with the certificate of the operator's CA, which the control plane hands devices. */
let mosquitto: Mosquitto;
let h: Harness | undefined;
let ca: PemPair;
let dir = '';

beforeAll(async () => {
  ca = await generateCa('operator CA');
  const server = await issueServerCertificate(ca, ['127.0.0.1', 'localhost']);
  dir = await mkdtemp(path.join(tmpdir(), 'ef-mosq-tls-'));
  const files = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key'), ca: path.join(dir, 'ca.pem') };
  await writeFile(files.cert, server.certPem);
  await writeFile(files.key, server.keyPem, { mode: 0o600 });
  await writeFile(files.ca, ca.certPem);
  mosquitto = await Mosquitto.create('dynsec', { cert: server.certPem, key: server.keyPem, ca: ca.certPem });
  await mosquitto.start();
  h = await startHarness({
    ...mosquitto.controlPlaneEnv,
    // the control plane's own clients (ingest, dynamic-security admin) use mqtts too, trusting the same CA
    MQTT_URL: mosquitto.tlsUrl,
    MQTT_PUBLIC_URL: mosquitto.tlsUrl,
    TLS: 'on',
    TLS_CERT_FILE: files.cert,
    TLS_KEY_FILE: files.key,
    TLS_CA_FILE: files.ca,
  });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await mosquitto.close();
  await rm(dir, { recursive: true, force: true });
});

describe('TLS with Mosquitto', () => {
  it("the control plane provisions the device over mqtts and the device, trusting the CA it was handed, is seen online through Mosquitto's TLS listener", async () => {
    if (!h) throw new Error('control plane not started');
    const cp = h.cp;
    const auth = { authorization: `Bearer ${cp.operatorToken}` };
    const device = await enrollOverHttps(cp, ca.certPem);
    expect(device.mqtt.url).toBe(mosquitto.tlsUrl);
    expect(device.tls?.caCertificate).toBe(ca.certPem);

    const client = await connectOverTls(device);
    await client.publishAsync(topics.status(device.deviceId), JSON.stringify({ state: 'online', bootId: randomUUID() }), {
      qos: 1,
      retain: true,
    });
    await waitFor(
      async () => {
        const d = await httpsCall('GET', `${cp.url}/api/v1/devices/${device.deviceId}`, ca.certPem, undefined, auth);
        return (JSON.parse(d.body) as { status: string }).status === 'online';
      },
      15_000,
      'device online through mqtts',
    );
    await client.endAsync();
  });
});
