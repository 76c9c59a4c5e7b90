import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** A random secret, URL-safe. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Tokens with high entropy are looked up by their sha256 (a slow hash adds nothing there). */
export function sha256Hex(value: string | Uint8Array): string {
  return createHash('sha256').update(value).digest('hex');
}

const N = 16_384;
const R = 8;
const P = 1;

function scryptAsync(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, 32, { N, r: R, p: P }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Device secrets are stored as scrypt hashes: `scrypt$N$r$p$salt$hash`. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const salt = Buffer.from(parts[4] ?? '', 'base64url');
  const expected = Buffer.from(parts[5] ?? '', 'base64url');
  const key = await scryptAsync(secret, salt);
  return key.length === expected.length && timingSafeEqual(key, expected);
}
