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
/** Cloud-node addresses remembered per replica; past it the memory starts over. */
const MAX_ANNOUNCED = 10_000;

@Injectable()
export class HybridPlacementService {
  private readonly announced = new Map<string, string>();

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

  /**
   * The scenario whose hybrid devices must hear of a cloud node's address now: when a cloud node
   * reports an address this replica has not seen from it (its first report, or a move). Null
   * otherwise, and for devices that are no cloud node. The memory is per replica and bounded; a
   * replica that restarts announces each node once more, which is harmless.
   */
  async announce(deviceId: string, url: string): Promise<string | null> {
    if (this.announced.get(deviceId) === url) return null;
    const scenario = await this.repo.cloudNodeScenario(deviceId);
    if (this.announced.size >= MAX_ANNOUNCED) this.announced.clear();
    this.announced.set(deviceId, url);
    return scenario;
  }

  /** Every device that forwards (of `scenario` only, when given), page by page: the grant refresh re-publishes their states. */
  async *hybridDevicePages(scenario: string | null = null, pageSize = 1_000): AsyncGenerator<string[]> {
    let after: string | null = null;
    for (;;) {
      const page = await this.repo.hybridPage(after, pageSize, scenario);
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1] ?? null;
    }
  }
}
