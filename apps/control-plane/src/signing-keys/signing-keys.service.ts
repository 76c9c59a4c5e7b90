import { Inject, Injectable } from '@nestjs/common';
import type { SigningKeyRotation, SigningKeyStatus } from '@edge-fleet/shared/api';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import { AppError } from '../errors.js';
import { AuditRepository } from '../infra/audit.repository.js';
import type { Logger } from '../infra/logger.js';
import { LOGGER, SIGNING } from '../infra/tokens.js';
import { UnitOfWork } from '../infra/unit-of-work.js';
import { sha256Hex } from '../infra/secrets.js';
import type { SigningService } from '../signing/signing.service.js';

/**
 * Rotating the online signing key (M17): a suspected leak or a routine change. The new key is
 * certified by the root under the next serial, the rotation audited, and every device's stored
 * desired state re-signed and published, so each device adopts the new serial and from then on
 * refuses anything the old key signs.
 */
@Injectable()
export class SigningKeysService {
  private readonly log: Logger;

  constructor(
    @Inject(SIGNING) private readonly signing: SigningService,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('signing');
  }

  async status(): Promise<SigningKeyStatus> {
    await this.signing.refresh();
    const cert = this.signing.certificate;
    return { rootPublicKey: this.signing.rootPublicKey, serial: this.signing.serial, publicKey: cert.publicKey, expiresAt: cert.expiresAt };
  }

  async rotate(actor: string, reason: string): Promise<SigningKeyRotation> {
    const previousSerial = (await this.status()).serial;
    const cert = await this.signing.rotate();
    const serial = this.signing.serial;
    await this.uow.run((tx) =>
      this.audit.append(tx, {
        actor,
        action: 'signing.key_rotated',
        targetType: 'signing_key',
        targetId: String(serial),
        details: { previousSerial, serial, publicKeySha256: sha256Hex(cert.publicKey), reason },
      }),
    );
    this.log.warn('signing key rotated', { previousSerial, serial, reason });
    let republished: number;
    try {
      republished = await this.desired.republishAll();
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      throw new AppError(
        'unavailable',
        `the signing key was rotated to serial ${serial}, but the desired states could not all be re-published (${error}); ` +
          'devices adopt the new key with their next desired state (a manifest refresh or a reconnect sends one)',
      );
    }
    return {
      rootPublicKey: this.signing.rootPublicKey,
      serial,
      publicKey: cert.publicKey,
      expiresAt: cert.expiresAt,
      previousSerial,
      republished,
    };
  }
}
