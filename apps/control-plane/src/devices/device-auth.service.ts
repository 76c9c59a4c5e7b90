import { Inject, Injectable } from '@nestjs/common';
import { DeviceIdSchema } from '@edge-fleet/shared';
import { hashSecret, isLegacyHash, sha256Hex, verifySecret } from '../infra/secrets.js';
import { DeviceRepository } from './device.repository.js';

/**
 * A device id as the control plane issued it: a lowercase UUID. Postgres compares uuids without
 * regard to case, so an upper-case variant would pass the secret check and open a second, inert
 * identity (a session under topics no one reads); it is refused instead (issue 10 item 5).
 */
export function isCanonicalDeviceId(deviceId: string): boolean {
  return DeviceIdSchema.safeParse(deviceId).success && deviceId === deviceId.toLowerCase();
}

const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 50_000;

/**
 * Verifies a device's id + secret against its stored hash. Successful checks are cached (keyed by
 * a sha256 of the secret) for a few minutes; a device still on the older scrypt hash has it
 * replaced by the fast one after its first successful check, so scrypt is paid once per device.
 */
@Injectable()
export class DeviceAuthService {
  private readonly verified = new Map<string, number>();

  constructor(@Inject(DeviceRepository) private readonly devices: DeviceRepository) {}

  async verify(deviceId: string, secret: string, now = Date.now()): Promise<boolean> {
    if (!isCanonicalDeviceId(deviceId) || secret.length < 32 || secret.length > 256) return false;
    const cred = await this.devices.credentials(deviceId);
    // keyed by the stored hash too: a rotated secret (a new hash) misses the cache on every replica at once
    const key = `${deviceId}:${sha256Hex(secret)}:${cred?.secretHash ?? ''}`;
    const until = this.verified.get(key);
    if (!cred || cred.status === 'revoked') {
      this.verified.delete(key);
      return false;
    }
    if (until !== undefined && until > now) return true;
    const ok = await verifySecret(secret, cred.secretHash);
    if (ok && isLegacyHash(cred.secretHash)) await this.devices.replaceSecretHash(deviceId, cred.secretHash, hashSecret(secret));
    if (ok) {
      if (this.verified.size >= CACHE_MAX) this.verified.clear();
      this.verified.set(key, now + CACHE_TTL_MS);
    }
    return ok;
  }

  /** Parses `Authorization: Basic base64(deviceId:secret)`. */
  async verifyBasicHeader(header: string | undefined): Promise<string | null> {
    const m = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(header ?? '');
    if (!m?.[1]) return null;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    const id = decoded.slice(0, colon);
    return (await this.verify(id, decoded.slice(colon + 1))) ? id : null;
  }
}
