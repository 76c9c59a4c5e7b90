import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Webhook HMAC secrets at rest: AES-256-GCM under a key kept beside the signing keys (the directory
 * every replica of a fleet shares), made by whichever process needs it first. A database dump alone
 * does not reveal a receiver's secret; the API never returns one after its creation.
 */
export class WebhookSecrets {
  private constructor(private readonly key: Buffer) {}

  static async open(keysDir: string): Promise<WebhookSecrets> {
    const file = path.join(keysDir, 'webhook-secrets.key');
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    // 'wx': two replicas starting together keep the one key written first
    await writeFile(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key`);
    return new WebhookSecrets(key);
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64url. */
  seal(secret: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
    return ['v1', iv, c.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string): string {
    const [v, iv, tag, body] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error('webhook secret is not in the sealed form');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
  }
}
