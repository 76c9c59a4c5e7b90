import { Inject, Injectable } from '@nestjs/common';
import type { HybridPlacement } from '@edge-fleet/shared';
import type { Config } from '../config.js';
import { CONFIG, SIGNING } from '../infra/tokens.js';
import type { SigningService } from '../signing/signing.service.js';
import { HybridPlacementRepository } from './hybrid-placement.repository.js';

/**
 * Hybrid placement, control-plane side (README "Hybrid placement"): at every publication of a
 * hybrid device's desired state, the cloud nodes of its scenario and a fresh forwarding grant
 * (scenario + device + expiry, signed with the manifest signing key). Minted, never stored: the
 * worker re-publishes hybrid devices' states before their grants expire (`refreshGrants`).
 */
@Injectable()
export class HybridPlacementService {
  constructor(
    @Inject(HybridPlacementRepository) private readonly repo: HybridPlacementRepository,
    @Inject(SIGNING) private readonly signing: SigningService,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** The placement of each of these devices that forwards (absent: an edge-only device or a cloud node). */
  async placementsFor(deviceIds: readonly string[], now = new Date()): Promise<Map<string, HybridPlacement>> {
    const hybrid = await this.repo.hybridAmong(deviceIds);
    const out = new Map<string, HybridPlacement>();
    if (hybrid.length === 0) return out;
    const nodes = await this.repo.cloudNodes([...new Set(hybrid.map((h) => h.scenario))]);
    const expiresAt = new Date(now.getTime() + this.config.HYBRID_GRANT_TTL_SECONDS * 1_000).toISOString();
    for (const h of hybrid) {
      out.set(h.deviceId, {
        nodes: nodes.get(h.scenario) ?? [],
        grant: this.signing.signForwardingGrant({
          schema: 1,
          kind: 'oip-forward',
          scenario: h.scenario,
          deviceId: h.deviceId,
          issuedAt: now.toISOString(),
          expiresAt,
        }),
        forwardOnLatency: this.config.HYBRID_FORWARD_ON_LATENCY === 'on',
        latencyTargetMs: h.latencyTargetMs,
      });
    }
    return out;
  }

  /** Every device that forwards, page by page (the grant refresh re-publishes their states). */
  async *hybridDevicePages(pageSize = 1_000): AsyncGenerator<string[]> {
    let after: string | null = null;
    for (;;) {
      const page = await this.repo.hybridPage(after, pageSize);
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1] ?? null;
    }
  }
}
