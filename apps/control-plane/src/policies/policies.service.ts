import { Inject, Injectable } from '@nestjs/common';
import type { PolicySettings, Scenario } from '@edge-fleet/shared';
import type { PolicyImportResult, PolicyView } from '@edge-fleet/shared/api';
import { AppError } from '../errors.js';
import { policiesFromYaml, policiesToYaml } from './policy-yaml.js';
import { PolicyRepository } from './policy.repository.js';

/** The risk-tier policy set: what REST and tRPC both call, one method per operation. */
@Injectable()
export class PoliciesService {
  constructor(@Inject(PolicyRepository) private readonly policies: PolicyRepository) {}

  list(): Promise<PolicyView[]> {
    return this.policies.list();
  }

  /** Replaces one scenario's settings (audited) and returns the scenario's policy as it now stands. */
  async update(scenario: Scenario, settings: PolicySettings, actor: string): Promise<PolicyView> {
    await this.policies.update([{ scenario, settings }], actor);
    const updated = (await this.policies.list()).find((p) => p.scenario === scenario);
    if (!updated) throw new AppError('not_found', `no policy for scenario ${scenario}`);
    return updated;
  }

  async exportYaml(): Promise<string> {
    return policiesToYaml(await this.policies.list());
  }

  /** Applies a YAML policy document all or nothing; a malformed document is an `invalid_request`. */
  async importYaml(yaml: string, actor: string): Promise<PolicyImportResult> {
    const changes = policiesFromYaml(yaml);
    await this.policies.update(changes, actor);
    return { updated: changes.map((c) => c.scenario), items: await this.policies.list() };
  }
}
