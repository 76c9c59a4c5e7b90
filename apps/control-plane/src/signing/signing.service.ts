import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { SigningPool } from './signing-pool.js';
import {
  encodeMessage,
  SigningKeyCertSchema,
  signingKeyCertMessage,
  signingKeySerial,
  type DesiredStatePayload,
  type ForwardingGrantPayload,
  type ManifestPayload,
  type SignedDesiredState,
  type SignedForwardingGrant,
  type SignedManifest,
  type SigningKeyCert,
} from '@edge-fleet/shared';

const SIGNING_KEY_DAYS = 365;
/** Smallest batch worth sending to the signing threads. */
export const POOL_MIN = 32;

/** `shareEventLoop`: the calling thread signs an equal share beside the signing threads (it has nothing else to do meanwhile). */
export interface SigningShare {
  shareEventLoop?: boolean;
}
/** How often a replica looks for a rotation made by another (see SigningService.refresh). */
export const REFRESH_MS = 1_000;

const certPath = (dir: string): string => path.join(dir, 'signing-cert.json');

async function readCert(dir: string): Promise<SigningKeyCert | null> {
  const text = await readFile(certPath(dir), 'utf8').catch(() => null);
  if (text === null) return null;
  const parsed = SigningKeyCertSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${certPath(dir)} is not a signing key certificate: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

function certify(root: KeyObject, publicKey: string, serial: number, now: Date): SigningKeyCert {
  const expiresAt = new Date(now.getTime() + SIGNING_KEY_DAYS * 86_400_000).toISOString();
  const unsigned = { publicKey, expiresAt, serial };
  return { ...unsigned, rootSignature: sign(null, Buffer.from(signingKeyCertMessage(unsigned)), root).toString('base64') };
}

/**
 * One rotation at a time across the replicas sharing the key directory (a lock file created
 * exclusively; one older than 30 s is a crashed rotation's and is taken over), so the key file and
 * the certificate on disk always belong together.
 */
async function withRotationLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, 'rotate.lock');
  for (const until = Date.now() + 10_000; ;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (e) {
      if (!(e instanceof Error && 'code' in e && e.code === 'EEXIST')) throw e;
      const age = Date.now() - ((await stat(lock).catch(() => null))?.mtimeMs ?? Date.now());
      if (age > 30_000) await rm(lock, { force: true });
      else if (Date.now() > until) throw new Error(`another signing-key rotation holds ${lock}`);
      else await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** Writes a secret file whole or not at all: a temporary file (0600) renamed over it. */
export async function replaceFile(file: string, content: string): Promise<void> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, file);
}

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
 * at enrollment and check the chain before they parse any artifact. `rotate` certifies a new
 * signing key under the next serial; devices refuse every key below the highest serial they have
 * accepted, so a rotation also revokes a leaked key. Replicas sharing the key directory pick a
 * rotation up within REFRESH_MS (`refresh`).
 */
export class SigningService {
  private checkedAt = 0;
  private pool: SigningPool | null = null;

  private constructor(
    private readonly dir: string,
    private readonly root: KeyObject,
    private signing: KeyObject,
    private cert: SigningKeyCert,
  ) {}

  /** `dir` holds the keys (SIGNING_KEYS_DIR): replicas that sign for one fleet must share it. */
  static async open(dir: string, now = new Date()): Promise<SigningService> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const root = await loadOrCreateKey(path.join(dir, 'root.pem'));
    const signing = await loadOrCreateKey(path.join(dir, 'signing.pem'));
    const existing = await readCert(dir);
    const publicKey = spkiBase64(signing);
    if (existing && existing.publicKey === publicKey && Date.parse(existing.expiresAt) > now.getTime() + 86_400_000) {
      return new SigningService(dir, root, signing, existing);
    }
    // a new key directory starts at serial 1
    // a renewal keeps its serial; so does a key file that no longer matches its certificate (devices may trust that serial already)
    const cert = certify(root, publicKey, existing ? signingKeySerial(existing) : 1, now);
    await writeFile(certPath(dir), JSON.stringify(cert), { mode: 0o600 });
    return new SigningService(dir, root, signing, cert);
  }

  /** The serial of the key signing now. */
  get serial(): number {
    return signingKeySerial(this.cert);
  }

  /** The certificate of the key signing now (public: devices get it with everything signed). */
  get certificate(): SigningKeyCert {
    return this.cert;
  }

  /**
   * Certifies a new signing key under the next serial and signs with it from now on; the old
   * private key is overwritten. The key file is replaced before the certificate, each by a rename,
   * so a replica reading between the two sees a key that does not match the certificate and waits.
   */
  async rotate(now = new Date()): Promise<SigningKeyCert> {
    return withRotationLock(this.dir, async () => {
      await this.refresh(true);
      const { privateKey } = generateKeyPairSync('ed25519');
      const cert = certify(this.root, spkiBase64(privateKey), this.serial + 1, now);
      await replaceFile(path.join(this.dir, 'signing.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      await replaceFile(certPath(this.dir), JSON.stringify(cert));
      this.signing = privateKey;
      this.cert = cert;
      return cert;
    });
  }

  /**
   * Adopts a rotation made by another replica: reads the certificate (at most every REFRESH_MS
   * unless `force`) and, when it names a higher serial — or the same serial with another key, when
   * two replicas rotated at once — whose key file matches it, signs with that.
   */
  async refresh(force = false): Promise<void> {
    const at = Date.now();
    if (!force && at - this.checkedAt < REFRESH_MS) return;
    this.checkedAt = at;
    const cert = await readCert(this.dir);
    // a higher serial, or the same serial with another key (two replicas rotated at once: the file's wins)
    if (!cert || signingKeySerial(cert) < this.serial || cert.publicKey === this.cert.publicKey) return;
    const key = createPrivateKey(await readFile(path.join(this.dir, 'signing.pem'), 'utf8'));
    if (spkiBase64(key) !== cert.publicKey) return; // mid-rotation: the next refresh finds both
    this.signing = key;
    this.cert = cert;
  }

  /**
   * Signs batches on `workers` threads from now on (0: on the caller's thread). Each thread holds a
   * copy of the signing key, handed over once and again after a rotation.
   */
  startPool(workers: number): void {
    if (this.pool || workers < 1) return;
    this.pool = new SigningPool(workers);
  }

  /** Ends the signing threads (at shutdown). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.close();
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

  /**
   * Many manifests at once: on the signing threads when there are (see startPool), else inline.
   * `shareEventLoop`: the caller's thread signs a share too, while the threads sign the rest (a
   * caller that would only wait for them meanwhile).
   */
  signManifests(payloads: readonly ManifestPayload[], o: SigningShare = {}): Promise<SignedManifest[]> {
    return this.signMany(payloads, o);
  }

  /**
   * Many whole desired states at once, each answered as the JSON bytes of its signed envelope (what
   * `encodeMessage('desired', signDesired(p))` gives): on the signing threads, which also write the
   * envelope, so a fan-out leaves neither JSON nor copy per device on the event loop; inline below POOL_MIN.
   */
  async signDesiredEnvelopes(payloads: readonly DesiredStatePayload[], o: SigningShare = {}): Promise<Buffer[]> {
    const key = this.signing;
    const signingKey = this.cert;
    const inline = (p: DesiredStatePayload): Buffer => Buffer.from(encodeMessage('desired', this.signDesired(p)));
    if (!this.pool || payloads.length < POOL_MIN) return payloads.map(inline);
    const own = this.ownShare(payloads.length, o);
    // posted first: the threads sign their part while this thread signs its own
    const pooled = this.pool.envelopes(payloads.slice(own), key, signingKey);
    const mine = payloads.slice(0, own).map(inline);
    return [...mine, ...(await pooled)];
  }

  /** How many of `n` signatures the caller's thread takes: an equal share beside each signing thread's, when lent. */
  private ownShare(n: number, o: SigningShare): number {
    return o.shareEventLoop && this.pool ? Math.floor(n / (this.pool.size + 1)) : 0;
  }

  /**
   * Batches below POOL_MIN are signed inline: a round trip to a thread costs more than the few
   * signatures (a single device coming online, a rollout's paced notifications).
   */
  private async signMany(
    values: readonly unknown[],
    o: SigningShare = {},
  ): Promise<{ payload: string; signature: string; signingKey: SigningKeyCert }[]> {
    // the key and its certificate are taken together, before any await: a rotation meanwhile signs the next batch
    const key = this.signing;
    const signingKey = this.cert;
    if (!this.pool || values.length < POOL_MIN) return values.map((v) => this.signJson(v));
    const own = this.ownShare(values.length, o);
    // posted first: the threads sign their part while this thread signs its own (with the same key: no await between)
    const pooled = this.pool.sign(values.slice(own), key);
    const mine = values.slice(0, own).map((v) => this.signJson(v));
    return [...mine, ...(await pooled).map((s) => ({ ...s, signingKey }))];
  }

  /** Signs the exact JSON bytes and ships them as base64, so the verifier never re-serialises. */
  private signJson(value: unknown): { payload: string; signature: string; signingKey: SigningKeyCert } {
    const bytes = Buffer.from(JSON.stringify(value));
    return { payload: bytes.toString('base64'), signature: sign(null, bytes, this.signing).toString('base64'), signingKey: this.cert };
  }
}
