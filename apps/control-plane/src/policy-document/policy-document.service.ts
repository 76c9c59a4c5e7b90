import { Inject, Injectable } from '@nestjs/common';
import { RemediationSettingsSchema, type PolicyImportResult } from '@edge-fleet/shared/api';
import { AlertRuleRepository } from '../alerts/alert-rule.repository.js';
import { UnitOfWork } from '../infra/unit-of-work.js';
import { PolicyRepository } from '../policies/policy.repository.js';
import { RemediationRepository } from '../remediation/remediation.repository.js';
import { policiesFromYaml, policiesToYaml } from './policy-yaml.js';

/** Several scenarios, their rules and settings in one transaction: more than Prisma's 5 s default on a loaded machine. */
const IMPORT_TIMEOUT_MS = 30_000;

/**
 * The policy set as one YAML document: the risk-tier policies with each scenario's alert rules and
 * remediation settings, and the fleet-wide rules. REST and tRPC both call it. Its own folder because
 * it spans policies, alerts and remediation (remediation depends on policies through desired state).
 */
@Injectable()
export class PolicyDocumentService {
  constructor(
    @Inject(PolicyRepository) private readonly policies: PolicyRepository,
    @Inject(AlertRuleRepository) private readonly rules: AlertRuleRepository,
    @Inject(RemediationRepository) private readonly remediation: RemediationRepository,
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
  ) {}

  async exportYaml(): Promise<string> {
    const [policies, rules, remediation] = await Promise.all([this.policies.list(), this.rules.list(), this.remediation.settings()]);
    return policiesToYaml(policies, rules, remediation);
  }

  /**
   * Applies a YAML document all or nothing: it is validated whole first (a bad value is an
   * `invalid_request` naming its place), then policies, rules and remediation settings are written
   * in one transaction, each change audited.
   */
  async importYaml(yaml: string, actor: string): Promise<PolicyImportResult> {
    const doc = policiesFromYaml(yaml);
    const { alertRules, remediation } = await this.uow.run(
      async (tx) => {
        await this.policies.update(doc.policies, actor, tx);
        const alertRules = await this.rules.applyLists(tx, doc.ruleScopes, doc.rules, actor);
        const current = await this.remediation.settings(tx);
        const changed: string[] = [];
        for (const { scenario, settings } of doc.remediation) {
          const before = current.find((c) => c.scenario === scenario);
          // each given key was valid alone and no rule spans keys, so the merge is valid too
          const merged = RemediationSettingsSchema.parse({ ...pickSettings(before), ...settings });
          if (before && Object.entries(merged).every(([k, v]) => before[k as keyof typeof merged] === v)) continue;
          await this.remediation.saveSettings(tx, scenario, merged, actor);
          changed.push(scenario);
        }
        return { alertRules, remediation: changed };
      },
      { timeoutMs: IMPORT_TIMEOUT_MS },
    );
    return { updated: doc.policies.map((c) => c.scenario), items: await this.policies.list(), alertRules, remediation };
  }
}

/** The settings of a view (without its scenario and who changed it last). */
function pickSettings(v: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!v) return {};
  const { scenario: _s, updatedBy: _b, updatedAt: _a, ...settings } = v;
  return settings;
}
