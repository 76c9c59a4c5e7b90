import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type TlsSettings } from '../config.js';
import { Logger } from '../infra/logger.js';
import { generateCa, issueServerCertificate } from './certificate-authority.js';
import { RENEW_BEFORE_DAYS, loadTlsMaterial } from './tls-material.js';

const log = new Logger('test', 'error');
let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ef-tls-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const generatedIn = (hostnames: string[]): TlsSettings => ({ files: null, dir: path.join(dir, 'tls'), hostnames });
const mode = async (file: string): Promise<number> => (await stat(file)).mode & 0o777;

describe('TLS material generated for the zero-setup start', () => {
  it('persists a CA and a server certificate, keys 0600, and serves the same CA at the next start', async () => {
    const first = await loadTlsMaterial(generatedIn(['localhost', '127.0.0.1']), log);
    expect(first.source).toBe('generated');
    const tlsDir = path.join(dir, 'tls');
    expect(await mode(path.join(tlsDir, 'ca.key'))).toBe(0o600);
    expect(await mode(path.join(tlsDir, 'server.key'))).toBe(0o600);
    expect(await mode(tlsDir)).toBe(0o700);
    expect(await readFile(path.join(tlsDir, 'ca.pem'), 'utf8')).toBe(first.caPem);
    expect(new X509Certificate(first.cert).checkIssued(new X509Certificate(first.caPem))).toBe(true);

    const again = await loadTlsMaterial(generatedIn(['localhost', '127.0.0.1']), log);
    expect(again.caPem).toBe(first.caPem);
    expect(again.cert).toBe(first.cert);
  });

  it('re-issues the server certificate from the same CA when a host name is added or its end is near', async () => {
    const first = await loadTlsMaterial(generatedIn(['localhost']), log);
    const renamed = await loadTlsMaterial(generatedIn(['localhost', 'cp.fleet.example']), log);
    expect(renamed.caPem).toBe(first.caPem);
    expect(renamed.cert).not.toBe(first.cert);
    expect(new X509Certificate(renamed.cert).checkHost('cp.fleet.example')).toBe('cp.fleet.example');

    const late = new Date(Date.now() + (397 - RENEW_BEFORE_DAYS + 1) * 86_400_000);
    const renewed = await loadTlsMaterial(generatedIn(['localhost', 'cp.fleet.example']), log, late);
    expect(renewed.caPem).toBe(first.caPem);
    expect(new Date(new X509Certificate(renewed.cert).validTo).getTime()).toBeGreaterThan(late.getTime() + 300 * 86_400_000);
  });

  it('two replicas starting together on one directory end with one CA', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => loadTlsMaterial(generatedIn(['localhost']), log)));
    expect(b?.caPem).toBe(a?.caPem);
    expect(c?.caPem).toBe(a?.caPem);
  });
});

describe("TLS material from the operator's files", () => {
  async function files(): Promise<{ cert: string; key: string; ca: string }> {
    const ca = await generateCa('operator CA');
    const server = await issueServerCertificate(ca, ['cp.example']);
    const f = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key'), ca: path.join(dir, 'ca.pem') };
    await writeFile(f.cert, server.certPem);
    await writeFile(f.key, server.keyPem, { mode: 0o600 });
    await writeFile(f.ca, ca.certPem);
    return f;
  }

  it('serves them as they are and hands devices the CA file', async () => {
    const f = await files();
    const m = await loadTlsMaterial({ files: f, dir, hostnames: [] }, log);
    expect(m).toMatchObject({ source: 'files', cert: await readFile(f.cert, 'utf8'), caPem: await readFile(f.ca, 'utf8') });
  });

  it('refuses a key that is not the certificate’s, and a CA file that holds no CA, naming the variable', async () => {
    const f = await files();
    const other = await issueServerCertificate(await generateCa('x'), ['cp.example']);
    await writeFile(f.key, other.keyPem);
    await expect(loadTlsMaterial({ files: f, dir, hostnames: [] }, log)).rejects.toThrow(/TLS_KEY_FILE .* is not the key of TLS_CERT_FILE/);
    const g = await files();
    await expect(loadTlsMaterial({ files: { ...g, ca: g.cert }, dir, hostnames: [] }, log)).rejects.toThrow(/TLS_CA_FILE .* is not a CA/);
    await expect(loadTlsMaterial({ files: { ...g, cert: path.join(dir, 'nope.pem') }, dir, hostnames: [] }, log)).rejects.toThrow(
      /TLS_CERT_FILE .*nope\.pem cannot be read/,
    );
  });
});

describe('TLS configuration', () => {
  it('serves https and sends devices to mqtts once on; the generated certificate names the configured hosts', () => {
    const c = loadConfig({ TLS: 'on', HOST: '0.0.0.0', PORT: '9443', TLS_HOSTNAMES: 'cp.fleet.example, 10.1.2.3', DATA_DIR: '/srv/ef' });
    expect(c.publicUrl).toBe('https://0.0.0.0:9443');
    expect(c.mqttPublicUrl).toBe('mqtts://127.0.0.1:8883');
    expect(c.tls?.dir).toBe('/srv/ef/tls');
    expect(c.tls?.hostnames).toEqual(expect.arrayContaining(['localhost', '127.0.0.1', 'cp.fleet.example', '10.1.2.3']));
    // a wildcard listen address is no name anybody connects to
    expect(c.tls?.hostnames).not.toContain('0.0.0.0');
    expect(loadConfig({}).tls).toBeNull();
    expect(loadConfig({}).publicUrl).toBe('http://127.0.0.1:8080');
  });

  it('refuses half a certificate configuration, naming the variables', () => {
    expect(() => loadConfig({ TLS_CERT_FILE: '/c.pem' })).toThrow(/TLS=off/);
    expect(() => loadConfig({ TLS: 'on', TLS_CERT_FILE: '/c.pem', TLS_CA_FILE: '/ca.pem' })).toThrow(
      /TLS_CERT_FILE, TLS_KEY_FILE: give both/,
    );
    expect(() => loadConfig({ TLS: 'on', TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem' })).toThrow(/TLS_CA_FILE: required/);
    expect(() => loadConfig({ TLS: 'on', PUBLIC_URL: 'http://cp.example' })).toThrow(/PUBLIC_URL: must be an https/);
    expect(loadConfig({ TLS: 'on', TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem', TLS_CA_FILE: '/ca.pem' }).tls?.files).toEqual({
      cert: '/c.pem',
      key: '/k.pem',
      ca: '/ca.pem',
    });
  });
});
