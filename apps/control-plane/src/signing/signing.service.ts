import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  DesiredStatePayload,
  ForwardingGrantPayload,
  ManifestPayload,
  SignedDesiredState,
  SignedForwardingGrant,
  SignedManifest,
  SigningKeyCert,
} from '@edge-fleet/shared';

const SIGNING_KEY_DAYS = 365;

function spkiBase64(key: KeyObject): string {
  return createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64');
}

async function loadOrCreateKey(file: string): Promise<KeyObject> {
  const pem = await readFile(file, 'utf8').catch(() => null);
  if (pem) return createPrivateKey(pem);
  const { privateKey } = generateKeyPairSync('ed25519');
  try {
    await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // another replica (an api and the worker starting together) created it first: theirs is the key
    if (e instanceof Error && 'code' in e && e.code === 'EEXIST') return createPrivateKey(await readFile(file, 'utf8'));
    throw e;
  }
  return privateKey;
}

/**
 * Ed25519 manifest signing, TUF-shaped but minimal: a root key (kept under SIGNING_KEYS_DIR and
 * movable offline) certifies an online signing key for a year; devices get the root public key
 * at enrollment and check the chain before they parse any artifact.
 */
export class SigningService {
  private constructor(
    private readonly root: KeyObject,
    private readonly signing: KeyObject,
    private readonly cert: SigningKeyCert,
  ) {}

  /** `dir` holds the keys (SIGNING_KEYS_DIR): replicas that sign for one fleet must share it. */
  static async open(dir: string, now = new Date()): Promise<SigningService> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const root = await loadOrCreateKey(path.join(dir, 'root.pem'));
    const signing = await loadOrCreateKey(path.join(dir, 'signing.pem'));
    const certFile = path.join(dir, 'signing-cert.json');
    const existing = await readFile(certFile, 'utf8').then(
      (s) => JSON.parse(s) as SigningKeyCert,
      () => null,
    );
    const publicKey = spkiBase64(signing);
    if (existing && existing.publicKey === publicKey && Date.parse(existing.expiresAt) > now.getTime() + 86_400_000) {
      return new SigningService(root, signing, existing);
    }
    const expiresAt = new Date(now.getTime() + SIGNING_KEY_DAYS * 86_400_000).toISOString();
    const cert = { publicKey, expiresAt, rootSignature: sign(null, Buffer.from(`${publicKey}.${expiresAt}`), root).toString('base64') };
    await writeFile(certFile, JSON.stringify(cert), { mode: 0o600 });
    return new SigningService(root, signing, cert);
  }

  get rootPublicKey(): string {
    return spkiBase64(this.root);
  }

  signManifest(payload: ManifestPayload): SignedManifest {
    return this.signJson(payload);
  }

  /** A whole desired state, as published: devices act only on the signed bytes. */
  signDesired(payload: DesiredStatePayload): SignedDesiredState {
    return this.signJson(payload);
  }

  /** A hybrid device's pass to its scenario's cloud nodes, which check it with the same root key. */
  signForwardingGrant(payload: ForwardingGrantPayload): SignedForwardingGrant {
    return this.signJson(payload);
  }

  /** Signs the exact JSON bytes and ships them as base64, so the verifier never re-serialises. */
  private signJson(value: unknown): { payload: string; signature: string; signingKey: SigningKeyCert } {
    const bytes = Buffer.from(JSON.stringify(value));
    return { payload: bytes.toString('base64'), signature: sign(null, bytes, this.signing).toString('base64'), signingKey: this.cert };
  }
}
