import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CA_VALIDITY_DAYS, SERVER_VALIDITY_DAYS, generateCa, issueServerCertificate } from './certificate-authority.js';

const DAY_MS = 86_400_000;

describe('generated certificate authority', () => {
  it('issues a server certificate the CA verifies, valid from now for a year, with every configured name in its SAN', async () => {
    const now = new Date('2026-12-06T09:00:00Z');
    const ca = await generateCa('Edge Fleet test CA', now);
    const server = await issueServerCertificate(ca, ['cp.fleet.example', 'localhost', '127.0.0.1', '::1'], now);
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(server.certPem);

    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    // the key handed to the TLS server is the certificate's own
    expect(cert.checkPrivateKey(createPrivateKey(server.keyPem))).toBe(true);
    expect(caCert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);

    expect(new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(now.getTime());
    expect(new Date(cert.validTo).getTime()).toBe(Math.floor((now.getTime() + SERVER_VALIDITY_DAYS * DAY_MS) / 1000) * 1000);
    expect(new Date(caCert.validTo).getTime()).toBe(Math.floor((now.getTime() + CA_VALIDITY_DAYS * DAY_MS) / 1000) * 1000);

    expect(cert.subjectAltName?.split(', ').sort()).toEqual(
      ['DNS:cp.fleet.example', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1'].sort(),
    );
    // what TLS clients check: the names match, a foreign one does not
    expect(cert.checkHost('cp.fleet.example')).toBe('cp.fleet.example');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('other.example')).toBeUndefined();
    expect(cert.checkIP('10.0.0.1')).toBeUndefined();
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
  });

  it('a certificate of another CA does not verify against this one', async () => {
    const ours = await generateCa('ours');
    const theirs = await generateCa('theirs');
    const cert = new X509Certificate((await issueServerCertificate(theirs, ['localhost'])).certPem);
    expect(cert.verify(new X509Certificate(ours.certPem).publicKey)).toBe(false);
  });

  it('refuses to issue a certificate for no host name', async () => {
    await expect(issueServerCertificate(await generateCa('ca'), [])).rejects.toThrow(/at least one host name/);
  });
});
