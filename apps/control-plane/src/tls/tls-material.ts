import { X509Certificate, createPrivateKey, randomUUID } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TlsSettings } from '../config.js';
import type { Logger } from '../infra/logger.js';
import { replaceFile } from '../signing/signing.service.js';
import { generateCa, issueServerCertificate, type PemPair } from './certificate-authority.js';

/** What the TLS listeners serve and what enrollment hands devices to pin. */
export interface TlsMaterial {
  /** The server certificate (PEM, with its chain when the operator's file has one) and its key. */
  cert: string;
  key: string;
  /** The CA certificate (PEM) devices trust, and only it. */
  caPem: string;
  source: 'files' | 'generated';
}

/** What enrollment hands a device to pin: the CA certificate (PEM), or null without TLS. */
export interface DeviceTrust {
  caPem: string | null;
}

/** A generated server certificate is re-issued (from the same CA) when it has less than this left. */
export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;
/** How long a replica that lost the race to create the CA waits for the winner's certificate. */
const CA_WAIT_MS = 10_000;

class TlsConfigError extends Error {
  constructor(message: string) {
    super(`TLS: ${message}`);
    this.name = 'TlsConfigError';
  }
}

/** The operator's files (checked: parseable, key matching, CA a CA) or the generated CA in `settings.dir`. */
export async function loadTlsMaterial(settings: TlsSettings, log: Logger, now = new Date()): Promise<TlsMaterial> {
  return settings.files ? fromFiles(settings.files, log) : generated(settings, log, now);
}

async function readNamed(file: string, variable: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new TlsConfigError(`${variable} ${file} cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parseCert(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new TlsConfigError(`${what} is not a PEM certificate: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function fromFiles(files: { cert: string; key: string; ca: string }, log: Logger): Promise<TlsMaterial> {
  const [cert, key, caPem] = await Promise.all([
    readNamed(files.cert, 'TLS_CERT_FILE'),
    readNamed(files.key, 'TLS_KEY_FILE'),
    readNamed(files.ca, 'TLS_CA_FILE'),
  ]);
  const leaf = parseCert(cert, `TLS_CERT_FILE ${files.cert}`);
  const ca = parseCert(caPem, `TLS_CA_FILE ${files.ca}`);
  if (!ca.ca) throw new TlsConfigError(`TLS_CA_FILE ${files.ca} is not a CA certificate (basicConstraints CA:FALSE)`);
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw new TlsConfigError(`TLS_KEY_FILE ${files.key} is not a PEM private key: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!matches) throw new TlsConfigError(`TLS_KEY_FILE ${files.key} is not the key of TLS_CERT_FILE ${files.cert}`);
  if (((await stat(files.key)).mode & 0o077) !== 0)
    log.warn('TLS_KEY_FILE is readable by other users than its owner; chmod 600 it', { file: files.key });
  return { cert, key, caPem, source: 'files' };
}

async function readPair(certFile: string, keyFile: string): Promise<PemPair | null> {
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8').catch(() => null), readFile(keyFile, 'utf8').catch(() => null)]);
  if (certPem === null || keyPem === null) return null;
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)) ? { certPem, keyPem } : null;
  } catch {
    return null;
  }
}

/**
 * The CA in `dir`, created once. Replicas sharing the directory may start together: the key is
 * claimed with a hard link (which fails if it exists), so exactly one CA is ever made, and the
 * others wait for its certificate.
 */
async function loadOrCreateCa(dir: string, log: Logger, now: Date): Promise<PemPair> {
  const certFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'ca.key');
  const existing = await readPair(certFile, keyFile);
  if (existing) return existing;
  const ca = await generateCa(`Edge Fleet CA ${now.toISOString().slice(0, 10)}`, now);
  const tmp = path.join(dir, `ca.${randomUUID()}.tmp`);
  await writeFile(`${tmp}.key`, ca.keyPem, { mode: 0o600 });
  await writeFile(`${tmp}.pem`, ca.certPem, { mode: 0o644 });
  try {
    await link(`${tmp}.key`, keyFile);
    await rename(`${tmp}.pem`, certFile);
    log.info('generated a TLS certificate authority; devices pin it at enrollment', { caFile: certFile });
    return ca;
  } catch (e) {
    if (!(e instanceof Error && 'code' in e && e.code === 'EEXIST')) throw e;
  } finally {
    await rm(`${tmp}.key`, { force: true });
    await rm(`${tmp}.pem`, { force: true });
  }
  for (const deadline = Date.now() + CA_WAIT_MS; Date.now() < deadline; await sleep(100)) {
    const theirs = await readPair(certFile, keyFile);
    if (theirs) return theirs;
  }
  throw new TlsConfigError(`${keyFile} exists but ${certFile} is missing or is not its certificate; remove both to generate a new CA`);
}

/** Whether a generated server certificate can be served as it is: from this CA, for every name, not near its end. */
function stillGood(server: PemPair, ca: PemPair, hostnames: readonly string[], now: Date): boolean {
  const cert = new X509Certificate(server.certPem);
  if (!cert.checkIssued(new X509Certificate(ca.certPem))) return false;
  if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return false;
  return hostnames.every((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h, { wildcards: false })) !== undefined);
}

async function generated(settings: TlsSettings, log: Logger, now: Date): Promise<TlsMaterial> {
  await mkdir(settings.dir, { recursive: true, mode: 0o700 });
  const ca = await loadOrCreateCa(settings.dir, log, now);
  const certFile = path.join(settings.dir, 'server.pem');
  const keyFile = path.join(settings.dir, 'server.key');
  let server = await readPair(certFile, keyFile);
  if (!server || !stillGood(server, ca, settings.hostnames, now)) {
    server = await issueServerCertificate(ca, settings.hostnames, now);
    await replaceFile(keyFile, server.keyPem);
    await replaceFile(certFile, server.certPem);
    await chmod(certFile, 0o644);
    log.info('issued the TLS server certificate', { certFile, hostnames: settings.hostnames });
  }
  return { cert: server.certPem, key: server.keyPem, caPem: ca.certPem, source: 'generated' };
}
