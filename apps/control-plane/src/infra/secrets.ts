import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** A random secret, URL-safe. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Tokens with high entropy are looked up by their sha256 (a slow hash adds nothing there). */
export function sha256Hex(value: string | Uint8Array): string {
  return createHash('sha256').update(value).digest('hex');
}

function scryptAsync(secret: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  // only the parameters this code ever wrote: a tampered row cannot ask for a huge N
  if (N !== 16_384 || r !== 8 || p !== 1) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, 32, { N, r, p }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Device secrets are 256-bit random values the control plane generates, so a slow hash adds no
 * protection (no dictionary to try; 2^256 guesses either way) and only costs CPU on every first
 * CONNECT: scrypt took ~50 ms per device, so a restarted control plane needed minutes of CPU to
 * readmit a 10,000-device fleet. They are stored as `sha256$<salt>$<hash>` of salt + secret.
 */
export function hashSecret(secret: string): string {
  const salt = randomBytes(16).toString('base64url');
  return `sha256$${salt}$${createHash('sha256').update(salt).update(secret).digest('base64url')}`;
}

/** Whether a stored hash is the older scrypt form, which verifySecret still accepts (see DeviceAuthService). */
export function isLegacyHash(stored: string): boolean {
  return stored.startsWith('scrypt$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts[0] === 'sha256' && parts.length === 3) {
    const expected = Buffer.from(parts[2] ?? '', 'base64url');
    const key = createHash('sha256')
      .update(parts[1] ?? '')
      .update(secret)
      .digest();
    return key.length === expected.length && timingSafeEqual(key, expected);
  }
  // devices enrolled before sha256$: their hash is upgraded after their next successful check
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const salt = Buffer.from(parts[4] ?? '', 'base64url');
  const expected = Buffer.from(parts[5] ?? '', 'base64url');
  const key = await scryptAsync(secret, salt, Number(parts[1]), Number(parts[2]), Number(parts[3]));
  return key.length === expected.length && timingSafeEqual(key, expected);
}
