import { X509Certificate, randomUUID } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Logger, createRootPino } from '../infra/logger.js';
import { freePort, startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { connectOverTls, enrollOverHttps } from '../test-support/tls-client.js';
import { generateCa, issueServerCertificate, type PemPair } from './certificate-authority.js';
import { loadTlsMaterial } from './tls-material.js';
import { TlsReloader } from './tls-reloader.js';

let h: Harness;
let ca: PemPair;
let dir = '';
let tlsPort = 0;
let apiPort = 0;
const lines: Record<string, unknown>[] = [];
const files = { cert: '', key: '', ca: '' };

/** Replaces a file as an operator's tool does (written aside, renamed over). */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.new`, text, { mode: 0o600 });
  await rename(`${file}.new`, file);
}

async function install(pair: PemPair): Promise<string> {
  await replace(files.key, pair.keyPem);
  await replace(files.cert, pair.certPem);
  return new X509Certificate(pair.certPem).serialNumber;
}

/** The serial of the certificate a new TLS connection to `port` is shown (trusting the CA alone). */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

let first = '';
beforeAll(async () => {
  ca = await generateCa('operator CA');
  dir = await mkdtemp(path.join(tmpdir(), 'ef-tls-reload-'));
  Object.assign(files, { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key'), ca: path.join(dir, 'ca.pem') });
  await writeFile(files.ca, ca.certPem);
  first = await install(await issueServerCertificate(ca, ['127.0.0.1', 'localhost']));
  tlsPort = await freePort();
  const logger = new Logger(
    'test',
    'info',
    createRootPino('info', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }),
  );
  h = await startHarness(
    {
      TLS: 'on',
      TLS_CERT_FILE: files.cert,
      TLS_KEY_FILE: files.key,
      TLS_CA_FILE: files.ca,
      MQTT_EMBEDDED_TLS_PORT: String(tlsPort),
      TLS_RELOAD_CHECK_SECONDS: '1',
    },
    undefined,
    logger,
  );
  apiPort = Number(new URL(h.cp.url).port);
}, 120_000);

afterAll(async () => {
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

describe('TLS certificate reload without a restart', () => {
  it('a replaced certificate is served to new HTTPS and mqtts connections; an open device session carries on', async () => {
    expect(await servedSerial(apiPort)).toBe(first);
    expect(await servedSerial(tlsPort)).toBe(first);
    const device = await enrollOverHttps(h.cp, ca.certPem);
    const client = await connectOverTls(device);
    try {
      const second = await install(await issueServerCertificate(ca, ['127.0.0.1', 'localhost']));
      expect(second).not.toBe(first);
      await waitFor(async () => (await servedSerial(apiPort)) === second || null, 15_000, 'the new certificate on the API port');
      expect(await servedSerial(tlsPort)).toBe(second);
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'TLS certificate reloaded', serial: second }));
      // the session opened under the old certificate is still up and still delivers
      expect(client.connected).toBe(true);
      await client.publishAsync(topics.status(device.deviceId), JSON.stringify({ state: 'online', bootId: randomUUID() }), { qos: 1 });
      expect(client.connected).toBe(true);
    } finally {
      await client.endAsync();
    }
  });

  it('a key that is not the certificate’s, or a certificate of another CA, is refused with a log and the serving one stays', async () => {
    const serving = await servedSerial(apiPort);
    const other = await issueServerCertificate(ca, ['127.0.0.1', 'localhost']);
    // a new certificate with the old key left in place
    await replace(files.cert, other.certPem);
    await waitFor(
      () =>
        lines.find(
          (l) =>
            l.msg === 'TLS certificate reload refused; the current certificate stays' &&
            /is not the key of TLS_CERT_FILE/.test(String(l.reason)),
        ) ?? null,
      15_000,
      'the refusal of a mismatched pair',
    );
    expect(await servedSerial(apiPort)).toBe(serving);
    expect(await servedSerial(tlsPort)).toBe(serving);

    // a matching pair, but signed by a CA the devices never pinned
    await install(await issueServerCertificate(await generateCa('someone else'), ['127.0.0.1', 'localhost']));
    await waitFor(
      () => lines.find((l) => /not issued by the CA devices pinned/.test(String(l.reason))) ?? null,
      15_000,
      'the refusal of a foreign CA',
    );
    expect(await servedSerial(apiPort)).toBe(serving);

    // a good pair again is taken
    const good = await install(await issueServerCertificate(ca, ['127.0.0.1', 'localhost']));
    await waitFor(async () => (await servedSerial(apiPort)) === good || null, 15_000, 'the good pair served');
    expect(await servedSerial(tlsPort)).toBe(good);
  });

  it('with periodic checks off, SIGHUP re-reads the files at once', async () => {
    const settings = { files: { ...files }, dir, hostnames: [] };
    const log = new Logger('test', 'error');
    const applied: string[] = [];
    const reloader = new TlsReloader(settings, await loadTlsMaterial(settings, log), [(p) => applied.push(p.cert)], log, 0);
    reloader.start();
    try {
      const next = await issueServerCertificate(ca, ['127.0.0.1']);
      await install(next);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(applied, 'nothing re-read without a signal').toEqual([]);
      process.kill(process.pid, 'SIGHUP');
      await waitFor(() => (applied.length > 0 ? applied : null), 10_000, 'the pair re-read on SIGHUP');
      expect(applied).toEqual([next.certPem]);
    } finally {
      await reloader.stop();
    }
  });
});
