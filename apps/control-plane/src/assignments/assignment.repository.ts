import { Inject, Injectable } from '@nestjs/common';
import type { DesiredState, InputSpec, Scenario } from '@edge-fleet/shared';
import type { Prisma } from '../generated/prisma/client.js';
import { AppError } from '../errors.js';
import { appendAudit } from '../infra/audit.repository.js';
import type { Db } from '../infra/prisma.js';
import { PRISMA } from '../infra/tokens.js';

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

/** Builds a device's full desired state for a given assignment version. */
export type DesiredBuilder = (deviceId: string, version: number, scenario: Scenario, choice: VariantChoice | null) => DesiredState;

async function loadScenarioChoice(db: Pick<Db, 'policy'>, scenario: Scenario): Promise<VariantChoice | null> {
  const policy = await db.policy.findUnique({
    where: { scenario },
    select: {
      modelVersion: {
        select: {
          id: true,
          version: true,
          inputs: true,
          model: { select: { id: true, name: true } },
          variants: { where: { method: 'fp32', status: 'ready' }, select: { id: true, precision: true, sha256: true, sizeBytes: true } },
        },
      },
    },
  });
  const mv = policy?.modelVersion;
  const variant = mv?.variants[0];
  if (!mv || !variant?.sha256 || !variant.sizeBytes) return null;
  return {
    modelId: mv.model.id,
    modelVersionId: mv.id,
    variantId: variant.id,
    name: mv.model.name,
    version: mv.version,
    precision: variant.precision,
    sha256: variant.sha256,
    sizeBytes: variant.sizeBytes,
    inputs: mv.inputs as InputSpec[],
  };
}

@Injectable()
export class AssignmentRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  /** The variant a scenario's devices run today (FP32 until the variant builder lands). */
  async scenarioChoice(scenario: Scenario): Promise<VariantChoice | null> {
    return loadScenarioChoice(this.db, scenario);
  }

  /**
   * Points a scenario at a model version and writes a new, higher-numbered assignment for each of
   * its devices, in one transaction. Returns the desired states to publish.
   */
  async assignScenario(scenario: Scenario, modelVersionId: string, actor: string, build: DesiredBuilder): Promise<DesiredState[]> {
    return this.db.$transaction(async (tx) => {
      const mv = await tx.modelVersion.findUnique({ where: { id: modelVersionId }, select: { id: true } });
      if (!mv) throw new AppError('not_found', `model version ${modelVersionId} not found`);
      await tx.policy.update({ where: { scenario }, data: { modelVersionId } });
      const choice = await loadScenarioChoice(tx, scenario);
      if (!choice) throw new AppError('conflict', `model version ${modelVersionId} has no usable FP32 variant`);
      const devices = await tx.device.findMany({ where: { scenario, status: { not: 'revoked' } }, select: { id: true, assignmentVersion: true } });
      const states: DesiredState[] = [];
      for (const d of devices) states.push(await this.writeAssignment(tx, d, scenario, choice, actor, build));
      await appendAudit(tx, { actor, action: 'scenario.assign_model', targetType: 'scenario', targetId: scenario, details: { modelVersionId, devices: devices.length } });
      return states;
    });
  }

  private async writeAssignment(
    tx: Prisma.TransactionClient,
    d: { id: string; assignmentVersion: number },
    scenario: Scenario,
    choice: VariantChoice | null,
    actor: string,
    build: DesiredBuilder,
  ): Promise<DesiredState> {
    const version = d.assignmentVersion + 1;
    const desired = build(d.id, version, scenario, choice);
    await tx.assignment.create({ data: { deviceId: d.id, version, modelVariantId: choice?.variantId ?? null, reason: desired.reason, desired, createdBy: actor } });
    await tx.device.update({ where: { id: d.id }, data: { assignmentVersion: version } });
    return desired;
  }

  /** The device's latest desired state; creates its first assignment when its scenario has a model. */
  async currentOrInitial(deviceId: string, build: DesiredBuilder): Promise<DesiredState | null> {
    const latest = await this.latestDesired(deviceId);
    if (latest) return latest;
    const device = await this.db.device.findUnique({ where: { id: deviceId }, select: { id: true, scenario: true, assignmentVersion: true, status: true } });
    if (!device || device.status === 'revoked') return null;
    const choice = await this.scenarioChoice(device.scenario as Scenario);
    if (!choice) return null;
    return this.db.$transaction((tx) => this.writeAssignment(tx, device, device.scenario as Scenario, choice, 'system', build));
  }

  async latestDesired(deviceId: string): Promise<DesiredState | null> {
    const row = await this.db.assignment.findFirst({ where: { deviceId }, orderBy: { version: 'desc' }, select: { desired: true } });
    return row ? (row.desired as DesiredState) : null;
  }

  async saveReported(deviceId: string, r: { bootId: string; phase: string; appliedAssignmentVersion: number | null; activeVariantId: string | null; activeSha256: string | null; payload: Prisma.InputJsonValue; reportedAt: Date }): Promise<void> {
    await this.db.reportedState.upsert({ where: { deviceId }, create: { deviceId, ...r }, update: { ...r, receivedAt: new Date() } });
  }
}
