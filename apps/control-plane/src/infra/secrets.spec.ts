import { randomBytes, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashSecret, isLegacyHash, newSecret, verifySecret } from './secrets.js';

const legacy = (secret: string, n = 16_384): string => {
  const salt = randomBytes(16);
  return `scrypt$${n}$8$1$${salt.toString('base64url')}$${scryptSync(secret, salt, 32, { N: n, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }).toString('base64url')}`;
};

describe('device secret hashes', () => {
  it('stores a salted sha256 that admits the secret and nothing else', async () => {
    const secret = newSecret();
    const h = hashSecret(secret);
    expect(h).toMatch(/^sha256\$[\w-]{22}\$[\w-]{43}$/);
    expect(h).not.toContain(secret);
    expect(hashSecret(secret)).not.toBe(h); // salted
    expect(isLegacyHash(h)).toBe(false);
    expect(await verifySecret(secret, h)).toBe(true);
    expect(await verifySecret(newSecret(), h)).toBe(false);
    expect(await verifySecret(secret, `${h}x`)).toBe(false);
    expect(await verifySecret(secret, 'sha256$only-two')).toBe(false);
  });

  it('still verifies the older scrypt hashes, but only with the parameters this code wrote', async () => {
    const secret = newSecret();
    const old = legacy(secret);
    expect(isLegacyHash(old)).toBe(true);
    expect(await verifySecret(secret, old)).toBe(true);
    expect(await verifySecret(newSecret(), old)).toBe(false);
    // a row that asks for other work factors (a tampered row asking for a huge N) is refused unrun
    expect(await verifySecret(secret, legacy(secret, 1_024))).toBe(false);
  });
});
