import { Inject, Injectable } from "@nestjs/common";
import {
  PrecisionSchema,
  topics,
  type DesiredState,
  type Scenario,
} from "@edge-fleet/shared";
import type { Config } from "../config.js";
import type { Logger } from "../infra/logger.js";
import {
  CONFIG,
  DESIRED_QUEUE,
  LOGGER,
  MQTT_BUS,
  SIGNING,
} from "../infra/tokens.js";
import type { SigningService } from "../signing/signing.service.js";
import type { MqttBus } from "../mqtt/mqtt-bus.js";
import {
  AssignmentRepository,
  type VariantChoice,
} from "./assignment.repository.js";
import type { DesiredStateQueue } from "./desired-state.queue.js";

/** How long a signed manifest stays valid; the desired state is re-signed on every assignment. */
const MANIFEST_TTL_MS = 30 * 86_400_000;

@Injectable()
export class AssignmentsService {
  private readonly log: Logger;

  constructor(
    @Inject(AssignmentRepository) private readonly repo: AssignmentRepository,
    @Inject(MQTT_BUS) private readonly bus: MqttBus,
    @Inject(DESIRED_QUEUE) private readonly queue: DesiredStateQueue,
    @Inject(SIGNING) private readonly signing: SigningService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child("assignments");
  }

  /** The full desired state of one device: Postgres keeps it, MQTT carries a retained copy. */
  readonly build = (
    deviceId: string,
    version: number,
    scenario: Scenario,
    c: VariantChoice | null,
  ): DesiredState => {
    const issuedAt = new Date();
    return {
      schema: 1,
      deviceId,
      assignmentVersion: version,
      issuedAt: issuedAt.toISOString(),
      scenario,
      reason: c
        ? `scenario ${scenario} runs ${c.name} ${c.version}; ${c.precision.toUpperCase()} is the only variant built so far, so every device of the scenario gets it`
        : `scenario ${scenario} has no model assigned`,
      model: c
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
            manifest: this.signing.signManifest({
              schema: 1,
              deviceId,
              modelVersionId: c.modelVersionId,
              variantId: c.variantId,
              precision: PrecisionSchema.parse(c.precision),
              sha256: c.sha256,
              sizeBytes: c.sizeBytes,
              version,
              hardwareClasses: [],
              issuedAt: issuedAt.toISOString(),
              expiresAt: new Date(
                issuedAt.getTime() + MANIFEST_TTL_MS,
              ).toISOString(),
            }),
          }
        : null,
      runtime: {
        targetRateHz: this.config.DEVICE_RATE_HZ,
        windowSeconds: this.config.TELEMETRY_WINDOW_SECONDS,
        intraOpThreads: 1,
      },
    };
  };

  /**
   * Gives every device of a scenario this model version: the assignments are committed in one
   * transaction, then one queue job per device publishes its desired state retained, QoS 1.
   */
  async assignScenario(
    scenario: Scenario,
    modelVersionId: string,
    actor: string,
  ): Promise<{ scenario: Scenario; modelVersionId: string; devices: number }> {
    const states = await this.repo.assignScenario(
      scenario,
      modelVersionId,
      actor,
      this.build,
    );
    await this.queue.enqueue(
      states.map((s) => ({
        deviceId: s.deviceId,
        assignmentVersion: s.assignmentVersion,
      })),
    );
    this.log.info("scenario assigned", {
      scenario,
      modelVersionId,
      devices: states.length,
    });
    return { scenario, modelVersionId, devices: states.length };
  }

  /** Re-publishes a device's desired state from Postgres (on reconnect, or its first assignment). */
  async republish(deviceId: string): Promise<void> {
    const desired = await this.repo.currentOrInitial(deviceId, this.build);
    if (desired) await this.publish(desired);
  }

  private async publish(s: DesiredState): Promise<void> {
    await this.bus.publish(topics.desired(s.deviceId), JSON.stringify(s), {
      retain: true,
    });
  }
}
