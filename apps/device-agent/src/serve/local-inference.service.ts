import type { HybridPlacement, ResultCacheSettings, Scenario } from '@edge-fleet/shared';
import { type Clock, systemClock } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';
import { AGENT_VERSION } from '../core/version.js';
import type { InferenceEngine } from '../engine/inference.engine.js';
import { type BackoffSettings, CloudForwarder, type NodeHealth, type RemoteAttempt } from '../hybrid/cloud.forwarder.js';
import { ForwardingGrantVerifier } from '../hybrid/forwarding-grant.verifier.js';
import { OipHandler } from './oip.handler.js';
import { ServingCap, type ServingCapSettings } from './serving-cap.js';
import { OipHttpServer } from './oip.http-server.js';
import { ResultCache } from './result.cache.js';
import { effectiveResultCache, type ServeConfig, serveDeadlineMs } from './serve.settings.js';
import { type ServedModelInfo, type ServedRequest, ServingSlot } from './serving.slot.js';

/** Requests handed to the engine at once: one running, the next already crossing to the worker. */
const MAX_IN_FLIGHT = 2;

/**
 * Where the agent stands in hybrid placement (README "Hybrid placement"). `device`: an edge device,
 * which forwards to cloud nodes once a desired state names them (`setHybrid`); `cloud`: a cloud node,
 * which serves hybrid devices on its TCP listener against forwarding grants signed by the control plane.
 */
export type ServiceRole =
  | {
      kind: 'device';
      scenario: Scenario;
      onRemote?: (a: RemoteAttempt) => void;
      backoff?: BackoffSettings;
      /** The CA pinned at enrollment: https cloud nodes are checked against it, plain http ones refused (loopback aside). */
      caPem?: string | null;
    }
  | { kind: 'cloud'; scenario: Scenario; rootPublicKey: string; minKeySerial?: () => number };

/** The agent's local inference API: the serving slot the reconcile loop swaps, and its listeners. */
export class LocalInferenceService {
  readonly slot: ServingSlot;
  private readonly server: OipHttpServer;
  private readonly forwarder: CloudForwarder | null;
  private readonly handler: OipHandler;

  constructor(
    private readonly config: ServeConfig,
    private readonly logger: Logger,
    onRequest?: (r: ServedRequest) => void,
    onCacheHit?: (savedMs: number) => void,
    private readonly clock: Clock = systemClock,
    role: ServiceRole | null = null,
  ) {
    this.forwarder =
      role?.kind === 'device'
        ? new CloudForwarder({
            clock,
            logger,
            onAttempt: role.onRemote ?? (() => undefined),
            ...(role.backoff ? { backoff: role.backoff } : {}),
            caPem: role.caPem ?? null,
          })
        : null;
    this.slot = new ServingSlot({ queueDepth: config.queueDepth, maxInFlight: MAX_IN_FLIGHT }, onRequest);
    // until a desired state brings the scenario policy's setting, the device's own flags decide
    const cache = effectiveResultCache(null, config);
    const handler = new OipHandler({
      slot: this.slot,
      serverName: 'edge-fleet-agent',
      serverVersion: AGENT_VERSION,
      deadlineMs: (scenario) => serveDeadlineMs(config, scenario),
      cache: cache === null ? null : new ResultCache(cache.entries, cache.ttlMs, clock),
      ...(onCacheHit === undefined ? {} : { onCacheHit }),
      forwarding:
        this.forwarder === null || role === null ? null : { forwarder: this.forwarder, deadlineMs: serveDeadlineMs(config, role.scenario) },
    });
    const grants = role?.kind === 'cloud' ? new ForwardingGrantVerifier(role.rootPublicKey, role.scenario, clock, role.minKeySerial) : null;
    this.handler = handler;
    this.server = new OipHttpServer(config, handler, logger, grants);
  }

  /**
   * The scenario policy's result cache from each applied desired state (null: the control plane sent
   * none), capped by the device's own flags (effectiveResultCache). An unchanged setting keeps the
   * cache and its entries; a changed one starts an empty cache.
   */
  setResultCache(policy: ResultCacheSettings | null): void {
    const next = effectiveResultCache(policy, this.config);
    const current = this.handler.resultCache;
    if (next === null ? current === null : current?.sameAs(next.entries, next.ttlMs) === true) return;
    this.handler.setCache(next === null ? null : new ResultCache(next.entries, next.ttlMs, this.clock));
    this.logger.info('result cache', next === null ? { entries: 0 } : { ...next, policy: policy ?? 'none (device flags)' });
  }

  /** A remediation's caps from each applied desired state, applied to applications' requests too (null: none). */
  setCaps(caps: ServingCapSettings | null): void {
    this.handler.setCap(caps === null ? null : new ServingCap(caps, this.clock));
  }

  /** From each verified desired state of a hybrid device: its cloud nodes and grant (null: none). Ignored on a cloud node. */
  setHybrid(placement: HybridPlacement | null): void {
    this.forwarder?.setPlacement(placement);
  }

  /** The cloud nodes' standing as this device sees them (empty when it forwards nowhere). */
  cloudNodes(): NodeHealth[] {
    return this.forwarder?.nodes() ?? [];
  }

  /** Called on every activation, rollback and unload: new requests go to this engine from now on. */
  setActive(engine: InferenceEngine | null, model: ServedModelInfo | null, scenario: Scenario): void {
    this.slot.setActive(engine === null || model === null ? null : { engine, model, scenario });
  }

  /** A listener that cannot start (a port in use) is logged, not fatal: the device keeps taking updates and serving on the others. */
  async start(): Promise<void> {
    try {
      await this.server.start();
    } catch (err) {
      this.logger.error('inference API not started', { error: errorMessage(err) });
    }
  }

  get port(): number | null {
    return this.server.port;
  }

  async stop(): Promise<void> {
    this.forwarder?.stop();
    await this.server.stop();
  }
}
