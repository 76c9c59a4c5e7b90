// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect polyfill
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

/** A certificate and its private key, both PEM (the key PKCS#8). */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** ECDSA P-256 with SHA-256: what every TLS stack of the field (OpenSSL, Mosquitto, Node, MQTT clients) accepts. */
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Validity starts an hour back: a device whose clock runs a little behind still accepts a fresh certificate. */
const BACKDATE_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** The generated CA outlives many server certificates: devices pin it at enrollment. */
export const CA_VALIDITY_DAYS = 3_650;
/** The CA/Browser Forum's ceiling for a server certificate; re-issued from the same CA before it ends. */
export const SERVER_VALIDITY_DAYS = 397;

const crypto = webcrypto;

async function newKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return await crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** Generates a self-signed CA (path length 0: it signs server certificates only). */
export async function generateCa(commonName: string, now = new Date()): Promise<PemPair> {
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: [{ CN: [commonName] }, { O: ['Edge Fleet'] }],
      keys,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** A subjectAltName entry per host name: an IP address as such (TLS clients match IPs only against IP entries). */
function altNames(hostnames: readonly string[]): x509.JsonGeneralNames {
  return hostnames.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
}

/** Issues a server certificate for `hostnames` (DNS names or IP addresses), signed by `ca`. */
export async function issueServerCertificate(ca: PemPair, hostnames: readonly string[], now = new Date()): Promise<PemPair> {
  if (hostnames.length === 0) throw new Error('a server certificate needs at least one host name');
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(ca.keyPem),
    { ...KEY_ALGORITHM, hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const keys = await newKeyPair();
  const first = hostnames[0] ?? 'localhost';
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: [{ CN: [first] }, { O: ['Edge Fleet'] }],
      issuer: caCert.subject,
      publicKey: keys.publicKey,
      signingKey: caKey,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + SERVER_VALIDITY_DAYS * DAY_MS),
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(altNames(hostnames)),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}
