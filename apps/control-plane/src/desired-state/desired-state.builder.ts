import { Inject, Injectable } from '@nestjs/common';
import {
  PrecisionSchema,
  type DesiredState,
  type InputSpec,
  type ManifestPayload,
  type RemediationRuntime,
  type Scenario,
} from '@edge-fleet/shared';
import type { Config } from '../config.js';
import type { ScenarioRuntimePolicy } from '../policies/policy.repository.js';
import { CONFIG, SIGNING } from '../infra/tokens.js';
import type { SigningService, SigningShare } from '../signing/signing.service.js';

/** A concrete variant a device is given. */
export interface VariantChoice {
  modelId: string;
  modelVersionId: string;
  variantId: string;
  name: string;
  version: string;
  precision: string;
  sha256: string;
  sizeBytes: number;
  inputs: InputSpec[];
}

/** What a device is to run, and why: the input of one new assignment. */
export interface AssignmentItem {
  /** `hardwareClass`: signed into the manifest, so the agent refuses a model meant for other hardware. */
  device: { id: string; scenario: Scenario; hardwareClass: string };
  /** null: the device is told to run no model. */
  choice: VariantChoice | null;
  reason: string;
}

/** One desired state to build: the device, its assignment number, what it runs and under which policy. */
export interface BuildInput {
  deviceId: string;
  version: number;
  item: AssignmentItem;
  policy: ScenarioRuntimePolicy | null;
  remediation?: RemediationRuntime | null;
}

type Unsigned = Omit<DesiredState, 'model'> & {
  model: (Omit<NonNullable<DesiredState['model']>, 'manifest'> & { manifest: ManifestPayload }) | null;
};

/** Builds devices' full desired states for one assignment number each, with the model's signed manifest. */
@Injectable()
export class DesiredStateBuilder {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(SIGNING) private readonly signing: SigningService,
  ) {}

  /**
   * The full desired states of these devices (Postgres keeps each, MQTT carries a retained copy),
   * their manifests signed together (on the signing threads when there are; `o`: the caller's thread
   * signs a share too). A remediation's caps lower the target rate too, so an agent that predates
   * them still slows down.
   */
  async buildMany(inputs: readonly BuildInput[], o: SigningShare = {}): Promise<DesiredState[]> {
    const unsigned = inputs.map((i) => this.unsigned(i));
    const manifests = await this.signing.signManifests(
      unsigned.flatMap((u) => (u.model ? [u.model.manifest] : [])),
      o,
    );
    let next = 0;
    return unsigned.map((u) => {
      if (!u.model) return { ...u, model: null };
      const manifest = manifests[next++];
      if (!manifest) throw new Error(`manifest ${next - 1} of ${manifests.length} missing from the signing threads' answer`);
      return { ...u, model: { ...u.model, manifest } };
    });
  }

  private unsigned({ deviceId, version, item, policy, remediation = null }: BuildInput): Unsigned {
    const issuedAt = new Date();
    const c = item.choice;
    const model = c
      ? {
          modelId: c.modelId,
          modelVersionId: c.modelVersionId,
          variantId: c.variantId,
          name: c.name,
          version: c.version,
          precision: PrecisionSchema.parse(c.precision),
          artifactUrl: `${this.config.publicUrl}/api/v1/artifacts/${c.sha256}`,
          sha256: c.sha256,
          sizeBytes: c.sizeBytes,
          inputs: c.inputs,
          manifest: {
            schema: 1 as const,
            deviceId,
            modelVersionId: c.modelVersionId,
            variantId: c.variantId,
            precision: PrecisionSchema.parse(c.precision),
            sha256: c.sha256,
            sizeBytes: c.sizeBytes,
            version,
            hardwareClasses: [item.device.hardwareClass],
            issuedAt: issuedAt.toISOString(),
            expiresAt: new Date(issuedAt.getTime() + this.config.MANIFEST_TTL_SECONDS * 1_000).toISOString(),
          },
        }
      : null;
    return {
      schema: 1,
      deviceId,
      assignmentVersion: version,
      issuedAt: issuedAt.toISOString(),
      scenario: item.device.scenario,
      reason: item.reason,
      model,
      runtime: {
        targetRateHz: Math.min(this.config.DEVICE_RATE_HZ, remediation?.maxRateHz ?? Infinity),
        windowSeconds: this.config.TELEMETRY_WINDOW_SECONDS,
        intraOpThreads: 1,
        ...(policy ? { health: policy.health } : {}),
        // left out while off: an agent without the field (or a cache) behaves the same, and states stay as they were
        ...(policy && policy.resultCache.entries > 0 ? { resultCache: policy.resultCache } : {}),
        ...(remediation ? { remediation } : {}),
      },
    };
  }
}
