import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key, PEM. */
export interface TestCert {
  cert: string;
  key: string;
}

/**
 * A throwaway CA made with the openssl CLI: an implementation independent of the control plane's
 * generator (apps do not import each other), so the agent's TLS checks are tested against what
 * any operator's PKI would hand it.
 */
export interface TestCa {
  caPem: string;
  caFile: string;
  /** A server certificate signed by this CA for `hostnames` (DNS names or IP addresses). */
  issue: (hostnames: string[]) => Promise<TestCert>;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export async function makeTestCa(name: string): Promise<TestCa> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ef-agent-ca-'));
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  await run('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const issue = async (hostnames: string[]): Promise<TestCert> => {
    const base = path.join(dir, randomUUID());
    const san = hostnames.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    await writeFile(`${base}.ext`, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    await run('openssl', ['req', '-new', ...EC, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${hostnames[0] ?? 'x'}`]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      caFile,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${base}.pem`,
      '-extfile',
      `${base}.ext`,
    ]);
    return { cert: await readFile(`${base}.pem`, 'utf8'), key: await readFile(`${base}.key`, 'utf8') };
  };
  return { caPem: await readFile(caFile, 'utf8'), caFile, issue };
}
