import { Inject, Injectable } from '@nestjs/common';
import type { HealthTargets, PolicySettings, ResultCacheSettings, Scenario } from '@edge-fleet/shared';
import type { PolicyView } from '@edge-fleet/shared/api';
import { z } from 'zod';
import { appendAudit } from '../infra/audit.repository.js';
import { asTx, prismaOf, txExecute, txQuery, type AnyTx, type Tx } from '../infra/unit-of-work.js';
import type { Db } from '../infra/prisma.js';
import { PRISMA } from '../infra/tokens.js';

const VARIANT_ID = z.uuid();

/** The shape is the API contract's (`PolicyViewSchema`); this repository's `select` fills it. */
export type { PolicyView };

/** The columns of a scenario's policy settings: what an operator edits, and what the audit's "before" records. */
const SETTINGS = {
  tier: true,
  latencyTargetMs: true,
  latencyPercentile: true,
  location: true,
  precisionOrder: true,
  memoryPlacement: true,
  errorRateMax: true,
  powerBudgetW: true,
  accuracyFloor: true,
  resultCacheEntries: true,
  resultCacheTtlMs: true,
} as const;

/** What a scenario's policy puts into its devices' runtime settings. */
export interface ScenarioRuntimePolicy {
  health: HealthTargets;
  resultCache: ResultCacheSettings;
}

/** The columns an update writes: the result cache only when the update names it. */
function settingsData({ resultCache, ...rest }: PolicySettings) {
  return resultCache === undefined ? rest : { ...rest, resultCacheEntries: resultCache.entries, resultCacheTtlMs: resultCache.ttlMs };
}

@Injectable()
export class PolicyRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  async list(): Promise<PolicyView[]> {
    const rows = await this.db.policy.findMany({
      orderBy: { scenario: 'asc' },
      select: {
        scenario: true,
        ...SETTINGS,
        modelVersion: { select: { id: true, version: true, model: { select: { name: true } } } },
      },
    });
    return rows.map(({ modelVersion, resultCacheEntries, resultCacheTtlMs, ...p }) => ({
      ...p,
      resultCache: { entries: resultCacheEntries, ttlMs: resultCacheTtlMs },
      model: modelVersion ? { modelVersionId: modelVersion.id, name: modelVersion.model.name, version: modelVersion.version } : null,
    }));
  }

  /** Replaces the settings of several scenarios in one transaction (the caller's, if given), each change audited. */
  async update(changes: { scenario: Scenario; settings: PolicySettings }[], actor: string, within?: Tx): Promise<void> {
    if (!within) return this.db.$transaction((tx) => this.update(changes, actor, asTx(tx)));
    const tx = prismaOf(within);
    for (const { scenario, settings } of changes) {
      const before = await tx.policy.findUnique({
        where: { scenario },
        select: SETTINGS,
      });
      await tx.policy.update({ where: { scenario }, data: settingsData(settings) });
      await appendAudit(within, {
        actor,
        action: 'policy.update',
        targetType: 'scenario',
        targetId: scenario,
        details: { before, after: settings },
      });
    }
  }

  /** Points a scenario at a model version (its devices' assignments are written in the same transaction). */
  async setScenarioModel(tx: AnyTx, scenario: Scenario, modelVersionId: string): Promise<void> {
    await txExecute(tx, `UPDATE "Policy" SET "modelVersionId" = $2::uuid, "updatedAt" = now() AT TIME ZONE 'UTC' WHERE scenario = $1`, [
      scenario,
      modelVersionId,
    ]);
  }

  /** Each scenario's tier targets and result cache, read in the transaction that writes desired states carrying them. */
  async runtimePolicies(tx: AnyTx): Promise<Map<string, ScenarioRuntimePolicy>> {
    const rows = await txQuery<{
      scenario: string;
      latencyTargetMs: number;
      latencyPercentile: string;
      errorRateMax: number;
      resultCacheEntries: number;
      resultCacheTtlMs: number;
    }>(
      tx,
      'SELECT scenario, "latencyTargetMs", "latencyPercentile", "errorRateMax", "resultCacheEntries", "resultCacheTtlMs" FROM "Policy"',
    );
    return new Map(
      rows.map((p) => [
        p.scenario,
        {
          health: {
            latencyTargetMs: p.latencyTargetMs,
            latencyPercentile: p.latencyPercentile as HealthTargets['latencyPercentile'],
            errorRateMax: p.errorRateMax,
          },
          resultCache: { entries: p.resultCacheEntries, ttlMs: p.resultCacheTtlMs },
        },
      ]),
    );
  }

  async variantsByIds(ids: string[]): Promise<Map<string, { precision: string; name: string; version: string }>> {
    // only UUIDs can name a variant; anything else would make the query itself fail
    const uuids = ids.filter((id) => VARIANT_ID.safeParse(id).success);
    if (uuids.length === 0) return new Map();
    const rows = await this.db.modelVariant.findMany({
      where: { id: { in: uuids } },
      select: { id: true, precision: true, modelVersion: { select: { version: true, model: { select: { name: true } } } } },
    });
    return new Map(rows.map((r) => [r.id, { precision: r.precision, name: r.modelVersion.model.name, version: r.modelVersion.version }]));
  }
}
