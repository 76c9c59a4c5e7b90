import { Inject, Injectable } from '@nestjs/common';
import type { PolicySettings, Scenario } from '@edge-fleet/shared';
import type { PolicyView } from '@edge-fleet/shared/api';
import { AppError } from '../errors.js';
import { PolicyRepository } from './policy.repository.js';

/**
 * The risk-tier policy set: what REST and tRPC both call, one method per operation. The YAML
 * document (policies with their alert rules and remediation) is policy-document/'s.
 */
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
}
