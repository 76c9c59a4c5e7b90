import { Inject, Injectable } from '@nestjs/common';
import type { DesiredState, RemediationRuntime } from '@edge-fleet/shared';
import type { Config } from '../config.js';
import { DeviceRepository } from '../devices/device.repository.js';
import { HybridPlacementService } from '../hybrid/hybrid-placement.service.js';
import type { Logger } from '../infra/logger.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import type { SigningShare } from '../signing/signing.service.js';
import { UnitOfWork, type AnyTx } from '../infra/unit-of-work.js';
import { PolicyRepository, type ScenarioRuntimePolicy } from '../policies/policy.repository.js';
import { DesiredStateBuilder, type AssignmentItem, type BuildInput, type VariantChoice } from './desired-state.builder.js';
import { DesiredStatePublisher, type PreparedPublish } from './desired-state.publisher.js';
import { DesiredStateQueue, type PublishDesiredJob } from './desired-state.queue.js';
import { DesiredStateRepository, type DeviceOverride, type NewAssignment, type PublishableDesired } from './desired-state.repository.js';

/** How long one low-power cycle lasts (the device works `dutyCycle` of it). */
export const LOW_POWER_PERIOD_SECONDS = 60;

/**
 * A remediation override applies to the model version it was made for: a new model version (an
 * assignment, a rollout) leaves it behind. It replaces the variant where it names one and adds its caps.
 */
function withOverride(
  item: AssignmentItem,
  o: DeviceOverride | undefined,
  variants: ReadonlyMap<string, VariantChoice>,
): { item: AssignmentItem; remediation: RemediationRuntime | null } {
  if (!o || item.choice?.modelVersionId !== o.modelVersionId) return { item, remediation: null };
  const choice = (o.variantId && variants.get(o.variantId)) || item.choice;
  const caps = o.maxRateHz !== null || o.dutyCycle !== null;
  return {
    item: choice === item.choice ? item : { ...item, choice },
    remediation: caps
      ? { actionId: o.actionId, maxRateHz: o.maxRateHz, dutyCycle: o.dutyCycle, dutyPeriodSeconds: LOW_POWER_PERIOD_SECONDS }
      : null,
  };
}

/** States just issued, to publish: their number is each device's high-water mark. */
function asIssued(states: readonly DesiredState[]): PublishableDesired[] {
  return states.map((desired) => ({ desired, highWaterMark: desired.assignmentVersion }));
}

/** The publish jobs of desired states just issued. */
export function publishJobs(states: readonly DesiredState[]): PublishDesiredJob[] {
  return states.map((s) => ({ deviceId: s.deviceId, assignmentVersion: s.assignmentVersion }));
}

/**
 * Where issue()'s time went, in ms (for a caller that logs it): the devices' new assignment numbers,
 * the policies and overrides read, the states built with their manifests signed, the rows inserted.
 */
export interface IssueStages {
  number?: number;
  read?: number;
  build?: number;
  insert?: number;
}

/**
 * Desired states, end to end: issuing them (a new assignment number, the state built and its
 * manifest signed, stored), queueing and publishing them signed, and refreshing manifests before
 * they expire. Postgres keeps every state; MQTT carries a retained, signed copy.
 */
@Injectable()
export class DesiredStateService {
  private readonly log: Logger;

  constructor(
    @Inject(DesiredStateRepository) private readonly repo: DesiredStateRepository,
    @Inject(DeviceRepository) private readonly devices: DeviceRepository,
    @Inject(PolicyRepository) private readonly policies: PolicyRepository,
    @Inject(DesiredStateBuilder) private readonly builder: DesiredStateBuilder,
    @Inject(DesiredStatePublisher) private readonly publisher: DesiredStatePublisher,
    @Inject(DesiredStateQueue) private readonly queue: DesiredStateQueue,
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(HybridPlacementService) private readonly hybrid: HybridPlacementService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('desired-state');
  }

  /**
   * Gives each device a new, higher-numbered assignment inside the caller's transaction, set-based
   * (a fixed number of statements per 1,000 devices). Returns the desired states to publish once
   * the transaction has committed. Manifests are signed on the signing threads, and with
   * `shareSigning` on this thread too (a caller that has nothing else to do meanwhile).
   */
  async issue(
    tx: AnyTx,
    items: readonly AssignmentItem[],
    actor: string,
    {
      shareSigning = false,
      onBuilt,
      stages,
    }: { shareSigning?: boolean; onBuilt?: (states: readonly DesiredState[]) => void; stages?: IssueStages } = {},
  ): Promise<DesiredState[]> {
    const ids = items.map((c) => c.device.id);
    const t0 = performance.now();
    const versionOf = await this.devices.nextAssignmentVersions(tx, ids);
    const tNumbered = performance.now();
    // the scenario's tier targets travel with the desired state: the device's smoke test and watchdog use them
    const policyOf = ids.length ? await this.policies.runtimePolicies(tx) : new Map<string, ScenarioRuntimePolicy>();
    // remediation (M14): a device's override is honoured by every issuer but a rollout on the device
    const overrides = await this.repo.overridesOf(tx, ids);
    const overrideVariants = await this.repo.choicesOf([
      ...new Set([...overrides.values()].flatMap((o) => (o.variantId ? [o.variantId] : []))),
    ]);
    const inputs: BuildInput[] = [];
    for (const given of items) {
      const version = versionOf.get(given.device.id);
      if (version === undefined) continue; // deleted meanwhile
      const { item, remediation } = withOverride(given, overrides.get(given.device.id), overrideVariants);
      inputs.push({ deviceId: item.device.id, version, item, policy: policyOf.get(item.device.scenario) ?? null, remediation });
    }
    const tRead = performance.now();
    const states = await this.builder.buildMany(inputs, { shareEventLoop: shareSigning });
    const tBuilt = performance.now();
    // before the rows are written: what the caller starts now runs while they are written and committed
    onBuilt?.(states);
    const rows = inputs.map((i, n): NewAssignment => {
      const desired = states[n];
      if (!desired) throw new Error(`desired state of ${i.deviceId} missing from the built batch`);
      return { deviceId: i.deviceId, version: i.version, modelVariantId: i.item.choice?.variantId ?? null, reason: i.item.reason, desired };
    });
    await this.repo.insert(tx, rows, actor);
    if (stages) {
      stages.number = Math.round(tNumbered - t0);
      stages.read = Math.round(tRead - tNumbered);
      stages.build = Math.round(tBuilt - tRead);
      stages.insert = Math.round(performance.now() - tBuilt);
    }
    return states;
  }

  /** Queues publications (after the transaction that issued them committed); retried until the broker takes them. */
  enqueue(jobs: PublishDesiredJob[]): Promise<void> {
    return this.queue.enqueue(jobs);
  }

  /**
   * Throws `unavailable` (503) naming Redis when the queue that carries notifications cannot take
   * them now: a caller asks before it writes, so a Redis outage refuses the change instead of
   * storing one whose notification would wait for Redis.
   */
  assertCanNotify(): Promise<void> {
    return this.queue.assertReachable();
  }

  /**
   * Queues the publications of states just issued; should Redis have gone away since the caller's
   * assertCanNotify (the change is committed by now), publishes them directly instead, so the
   * devices still hear of it (the api holds the broker; the stored state stays the truth).
   */
  async notifyIssued(states: readonly DesiredState[]): Promise<void> {
    try {
      await this.queue.enqueue(publishJobs(states));
    } catch (e) {
      this.log.warn('could not queue desired-state notifications; publishing them directly', {
        devices: states.length,
        error: e instanceof Error ? e.message : String(e),
      });
      await this.publishIssued(states);
    }
  }

  /**
   * Publishes states whose transaction has just committed straight from memory (no re-read), so
   * their devices hear of them while the next chunk is written; should the broker refuse them, they
   * are queued instead (the queue retries, reading Postgres). Resolves once a delayed fallback is
   * queued (should this process stop part way, another, or this one restarted, publishes what it
   * did not), with `delivered`, which settles once they are published or queued and never rejects:
   * the change is stored, and a device also gets its state from Postgres when it next comes online.
   */
  async publishCommitted(states: readonly DesiredState[], prepared?: Promise<PreparedPublish>): Promise<{ delivered: Promise<void> }> {
    await this.queue.enqueueFallback(publishJobs(states), this.config.PUBLISH_FALLBACK_SECONDS * 1_000).catch((e: unknown) =>
      this.log.warn('could not queue the fallback of desired states about to be published', {
        devices: states.length,
        error: e instanceof Error ? e.message : String(e),
      }),
    );
    return { delivered: this.deliverCommitted(states, prepared) };
  }

  private async deliverCommitted(states: readonly DesiredState[], prepared?: Promise<PreparedPublish>): Promise<void> {
    try {
      if (prepared) await this.publisher.deliver(await prepared);
      else await this.publishIssued(states);
    } catch (e) {
      this.log.warn('could not publish desired states just committed; queueing them', {
        devices: states.length,
        error: e instanceof Error ? e.message : String(e),
      });
      await this.queue.enqueue(publishJobs(states)).catch((q: unknown) =>
        this.log.error('desired states committed but neither published nor queued: their devices get them when they next connect', {
          devices: states.length,
          error: q instanceof Error ? q.message : String(q),
        }),
      );
    }
  }

  /** Queues each device's publication under its own job id: one already queued or done is not repeated. */
  enqueueEach(jobs: PublishDesiredJob[]): Promise<void> {
    return this.queue.enqueueEach(jobs);
  }

  /** The latest stored desired state of each of these devices that has one. */
  stored(deviceIds: string[]): Promise<PublishableDesired[]> {
    return this.repo.latestMany(deviceIds);
  }

  /** Signs and publishes (retained) these stored states. */
  publish(states: readonly PublishableDesired[]): Promise<void> {
    return this.publisher.publishSigned(states);
  }

  /** Publishes states just issued: their number is the device's high-water mark. */
  publishIssued(states: readonly DesiredState[]): Promise<void> {
    return this.publisher.publishSigned(asIssued(states));
  }

  /**
   * Signs states just built (issue's `onBuilt`) for publishing while their transaction writes and
   * commits them; publishCommitted() publishes them once it has. Nothing is published here.
   */
  prepareIssued(states: readonly DesiredState[], o: SigningShare = {}): Promise<PreparedPublish> {
    return this.publisher.prepare(asIssued(states), o);
  }

  /**
   * Re-issues, with fresh manifests, the desired states whose manifests expire within the refresh
   * window (same model, same reason, a new assignment number), so a healthy device never holds
   * expired metadata; devices in an active rollout are left to it. One replica at a time: the
   * others find the lock taken and return at once.
   */
  async refreshExpiringManifests(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - (this.config.MANIFEST_TTL_SECONDS - this.config.MANIFEST_REFRESH_AHEAD_SECONDS) * 1_000);
    const states = await this.uow.run(
      async (tx) => {
        if (!(await this.repo.tryLockRefresh(tx))) return [];
        const due = await this.repo.dueForRefresh(tx, cutoff);
        if (due.length === 0) return [];
        const choices = await this.repo.choicesOf([...new Set(due.map((d) => d.modelVariantId))]);
        const items = due.flatMap((d): AssignmentItem[] => {
          const choice = choices.get(d.modelVariantId);
          return choice
            ? [
                {
                  device: { id: d.deviceId, scenario: d.scenario as AssignmentItem['device']['scenario'], hardwareClass: d.hardwareClass },
                  choice,
                  reason: d.reason,
                },
              ]
            : [];
        });
        return this.issue(tx, items, 'system:manifest-refresh');
      },
      { timeoutMs: 120_000, maxWaitMs: 10_000 },
    );
    if (states.length) {
      await this.enqueue(publishJobs(states));
      this.log.info('manifests refreshed', { devices: states.length });
    }
    return states.length;
  }

  /**
   * Re-publishes every device's stored desired state (revoked devices aside), signed now: after a
   * signing-key rotation, so each device accepts a state under the new key and from then on refuses
   * the old one. Same assignment numbers: nothing new to apply.
   */
  async republishAll(pageSize = 500): Promise<number> {
    let published = 0;
    for (let after: string | null = null; ;) {
      const ids = await this.repo.publishedPage(after, pageSize);
      if (ids.length === 0) break;
      await this.publisher.publishSigned(await this.repo.latestMany(ids));
      published += ids.length;
      after = ids[ids.length - 1] ?? null;
    }
    this.log.info('desired states re-signed and published', { devices: published });
    return published;
  }

  /**
   * Re-publishes the stored desired state of every device that forwards to cloud nodes, each with a
   * fresh forwarding grant and the cloud nodes known now (same assignment number: nothing new to
   * apply, only the placement changes). Run by the worker every third of the grant's life.
   */
  async refreshHybridGrants(scenario: string | null = null): Promise<number> {
    let published = 0;
    for await (const ids of this.hybrid.hybridDevicePages(scenario)) {
      const states = await this.repo.latestMany(ids);
      await this.publisher.publishSigned(states);
      published += states.length;
    }
    if (published) this.log.info('hybrid grants refreshed', { devices: published });
    return published;
  }

  /**
   * A cloud node reported its address: when it is new (the node's first report, or it moved), its
   * scenario's hybrid devices get their states re-published now, naming it, rather than at the
   * next grant refresh. Not awaited by the report's handler: a scenario may have many devices.
   */
  async cloudNodeReported(deviceId: string, inferenceUrl: string): Promise<void> {
    const scenario = await this.hybrid.announce(deviceId, inferenceUrl);
    if (scenario === null) return;
    const n = await this.refreshHybridGrants(scenario);
    this.log.info('cloud node announced to its hybrid devices', { deviceId, scenario, devices: n });
  }
}
