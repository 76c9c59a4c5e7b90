import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  InferenceUrlSchema,
  ReportedStateSchema,
  UpdateOutcomeSchema,
  type CreateEnrollmentToken,
  type DeviceStatus,
  type EnrollRequest,
  type EnrollResponse,
  type HardwareProfile,
} from '@edge-fleet/shared';
import type { Device, DeviceSummary } from '@edge-fleet/shared/api';
import { z } from 'zod';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { hashSecret, newSecret, sha256Hex } from '../infra/secrets.js';
import type { Logger } from '../infra/logger.js';
import { BROKER_ACCESS, CONFIG, DEVICE_TRUST, ENROLLMENT_LISTENER, LOGGER, SIGNING } from '../infra/tokens.js';
import type { DeviceTrust } from '../tls/tls-material.js';
import type { BrokerAccess } from './broker-access.js';
import type { SigningService } from '../signing/signing.service.js';
import { DeadLetterRepository } from '../infra/dead-letter.repository.js';
import { DeviceRepository, type DeviceListQuery, type DeviceSummaryRow } from './device.repository.js';

const VariantIdSchema = z.uuid();
const StaleMetadataSchema = ReportedStateSchema.shape.staleMetadata.unwrap().unwrap();
const PlacementSchema = ReportedStateSchema.shape.placement.unwrap();
const FaultInjectionSchema = ReportedStateSchema.shape.faultInjection.unwrap();

/** A stored field that fails its schema (rows written before it was checked) is shown as null, never passed on. */
function valid<T>(schema: z.ZodType<T>, value: unknown): T | null {
  const r = schema.safeParse(value);
  return r.success ? r.data : null;
}

/** The shape is the API contract's (`DeviceSummarySchema`). */
export type { DeviceSummary };

export function toDeviceSummary(r: DeviceSummaryRow): DeviceSummary {
  return {
    id: r.id,
    name: r.name,
    scenario: r.scenario,
    status: r.status as DeviceStatus,
    labels: r.labels as Record<string, string>,
    hardwareClass: r.hardwareClass,
    accelerator: r.accelerator,
    hardwareProfile: r.hardwareProfile as HardwareProfile,
    enrolledAt: r.enrolledAt.toISOString(),
    lastSeenAt: r.lastSeenAt?.toISOString() ?? null,
    assignmentVersion: r.assignmentVersion,
    reported:
      r.phase !== null && r.reportedAt !== null
        ? {
            phase: r.phase,
            activeVariantId: valid(VariantIdSchema, r.activeVariantId),
            appliedAssignmentVersion: r.appliedAssignmentVersion,
            reportedAt: r.reportedAt.toISOString(),
            lastUpdate: valid(UpdateOutcomeSchema, r.lastUpdate),
            /** The agent's stale-metadata alarm (its desired-state manifest expired), or null. */
            staleMetadata: valid(StaleMetadataSchema, r.staleMetadata),
            /** Cloud nodes: the address hybrid devices are sent to, or null. */
            inferenceUrl: valid(InferenceUrlSchema, r.inferenceUrl),
            placement: valid(PlacementSchema, r.placement),
            faultInjection: valid(FaultInjectionSchema, r.faultInjection),
          }
        : null,
  };
}

/**
 * Told of each new device once it is enrolled (the rollouts domain: a device enrolled into an
 * active rollout's target joins its current wave). Injected, so devices need not import rollouts.
 */
export interface EnrollmentListener {
  deviceEnrolled(deviceId: string): Promise<void>;
}

@Injectable()
export class DevicesService {
  constructor(
    @Inject(DeviceRepository) private readonly repo: DeviceRepository,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(SIGNING) private readonly signing: SigningService,
    @Inject(ENROLLMENT_LISTENER) private readonly enrolled: EnrollmentListener,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(DeadLetterRepository) private readonly deadLetters: DeadLetterRepository,
    @Inject(BROKER_ACCESS) private readonly broker: BrokerAccess,
    @Inject(DEVICE_TRUST) private readonly trust: DeviceTrust,
  ) {}

  async createEnrollmentToken(input: CreateEnrollmentToken, actor: string) {
    const token = `eft_enr_${newSecret()}`;
    const expiresAt = new Date(Date.now() + input.ttlSeconds * 1000);
    const row = await this.repo.createEnrollmentToken({
      tokenHash: sha256Hex(token),
      scenario: input.scenario,
      labels: input.labels,
      maxUses: input.maxUses,
      expiresAt,
      createdBy: actor,
    });
    return { id: row.id, token, scenario: input.scenario, maxUses: input.maxUses, expiresAt: row.expiresAt.toISOString() };
  }

  /**
   * A new device for the token, or, for a try that repeats an earlier one's `requestId` (its answer
   * was lost), the device that try made with a new secret (see DeviceRepository.enroll).
   */
  async enroll(req: EnrollRequest): Promise<EnrollResponse> {
    const deviceSecret = newSecret();
    const fresh = randomUUID();
    const { scenario, deviceId, retried } = await this.repo.enroll(
      sha256Hex(req.token),
      {
        id: fresh,
        name: req.name ?? `${req.hardwareProfile.hardwareClass}-${fresh.slice(0, 8)}`,
        secretHash: hashSecret(deviceSecret),
        hardwareProfile: req.hardwareProfile,
        requestId: req.requestId,
      },
      new Date(),
      // the broker learns the device (and its secret, known in clear only here) before the enrollment
      // commits: a broker that refuses leaves no device it would not let in, and a retry's old secret working
      (e) =>
        (e.retried
          ? this.broker.deviceSecretRotated(e.deviceId, deviceSecret, false)
          : this.broker.deviceEnrolled(e.deviceId, deviceSecret)
        ).catch((err: unknown) => {
          this.log.error('device not provisioned on the broker; enrollment refused', {
            deviceId: e.deviceId,
            retried: e.retried,
            error: err instanceof Error ? err.message : String(err),
          });
          throw new AppError('unavailable', 'the MQTT broker could not be told of the device; enroll again later');
        }),
    );
    if (retried) this.log.info('enrollment tried again: same device, new secret', { deviceId, requestId: req.requestId });
    // a device enrolled into an active rollout's target joins its current wave; enrollment stands either way
    else
      await this.enrolled
        .deviceEnrolled(deviceId)
        .catch((e: unknown) =>
          this.log.warn('enrolled device could not join its rollout', { deviceId, error: e instanceof Error ? e.message : String(e) }),
        );
    return {
      deviceId,
      deviceSecret,
      scenario,
      rootPublicKey: this.signing.rootPublicKey,
      mqtt: { url: this.config.mqttPublicUrl, username: deviceId, clientId: deviceId },
      ...(this.trust.caPem === null ? {} : { tls: { caCertificate: this.trust.caPem, apiUrl: this.config.publicUrl } }),
    };
  }

  async list(q: DeviceListQuery) {
    const { items, total, totalCountedAt, nextCursor } = await this.repo.list(q);
    return {
      items: items.map(toDeviceSummary),
      total,
      totalCountedAt: totalCountedAt.toISOString(),
      // with a cursor there is no page number
      page: q.after ? null : q.page,
      pageSize: q.pageSize,
      nextCursor,
    };
  }

  async get(id: string): Promise<Device> {
    const [row, overQuota, clone] = await Promise.all([
      this.repo.get(id),
      this.deadLetters.countFor(id, 'quota'),
      this.repo.cloneAlarm(id),
    ]);
    if (!row) throw new AppError('not_found', `device ${id} not found`);
    /** Telemetry windows dead-lettered because the device sent more than its quota. */
    return {
      ...toDeviceSummary(row),
      telemetryOverQuota: overQuota,
      cloneAlarm: clone && { suspectedAt: clone.suspectedAt.toISOString(), reason: clone.reason, detections: clone.detections },
    };
  }
}
