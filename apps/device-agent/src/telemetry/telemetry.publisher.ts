import { type DesiredModel, type TelemetryWindow, TelemetryWindowSchema } from '@edge-fleet/shared';
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';
import type { TrafficWindow } from '../serve/traffic.meter.js';
import type { LatencySummary, LatencyWindow } from './latency.window.js';
import type { PowerMeter } from './power.meter.js';

export interface TelemetryDeps {
  clock: Clock;
  logger: Logger;
  deviceId: string;
  bootId: string;
  window: LatencyWindow;
  power: PowerMeter;
  /** What runs right now (labels the window); null when nothing runs. */
  activeModel: () => DesiredModel | null;
  /** Hands the window on (to the outbox, which stores it durably before it resolves). */
  publish: (msg: TelemetryWindow) => Promise<void>;
  /** Sees every closed window, published or not (the local watchdog works without a network). */
  onWindow?: (msg: TelemetryWindow) => void;
  memory?: () => { rss: number; heapUsed: number };
  /** Applications' requests in this window; when there were any, the window reports them instead of the probe. */
  traffic?: { drain(): TrafficWindow };
}

const MB = 1024 * 1024;

/** Closes a window every `windowSeconds` on a drift-free schedule and publishes its summary. */
export class TelemetryPublisher {
  private seq = 0;
  private windowStart = 0;
  private windowMs = 10_000;
  private timer: TimerHandle | null = null;

  constructor(private readonly deps: TelemetryDeps) {}

  /** Opens the first window; its length comes from setWindowSeconds (10 s until told otherwise). */
  start(): void {
    this.windowStart = this.deps.clock.now();
    this.deps.window.drain();
    this.deps.power.begin();
    this.schedule();
  }

  /** Takes effect from the next window. */
  setWindowSeconds(windowSeconds: number): void {
    const ms = windowSeconds * 1000;
    if (ms === this.windowMs) return;
    this.windowMs = ms;
    if (this.timer === null) return;
    this.deps.clock.clearTimeout(this.timer);
    this.schedule();
  }

  /** Stops the timer; with `flush`, publishes the partial window first. */
  async stop(flush: boolean): Promise<void> {
    if (this.timer !== null) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
    if (flush) await this.closeWindow();
  }

  /** Builds the summary of the window ending now and starts the next one. */
  buildWindow(): TelemetryWindow {
    const d = this.deps;
    const end = Math.max(d.clock.now(), this.windowStart);
    const probe = d.window.drain();
    const traffic = d.traffic?.drain() ?? null;
    // gates and the watchdog judge real traffic whenever there is any; the probe only speaks for an idle device
    const remote = traffic?.remote ?? null;
    // a window whose requests were all answered by a cloud node or from the cache is traffic too (its local figures are then empty)
    const fromTraffic = traffic !== null && (traffic.stats.inferences > 0 || remote !== null || traffic.cacheHits > 0);
    const stats = fromTraffic ? traffic.stats : probe;
    const seconds = (end - this.windowStart) / 1000;
    // both loaded the device, so both count for the power estimate
    const busyMs = probe.busyMs + (traffic?.stats.busyMs ?? 0);
    const utilisation = seconds > 0 ? busyMs / (seconds * 1000) : 0;
    const model = d.activeModel();
    const mem = (d.memory ?? (() => process.memoryUsage()))();
    const msg = TelemetryWindowSchema.parse({
      schema: 1,
      deviceId: d.deviceId,
      bootId: d.bootId,
      seq: this.seq,
      windowStart: new Date(this.windowStart).toISOString(),
      windowEnd: new Date(end).toISOString(),
      modelVersionId: model?.modelVersionId ?? null,
      variantId: model?.variantId ?? null,
      precision: model?.precision ?? null,
      inferences: stats.inferences,
      errors: stats.errors,
      latencyMs: roundLatency(stats.latencyMs),
      power: d.power.end(seconds, utilisation),
      memory: { rssMb: round(mem.rss / MB), heapUsedMb: round(mem.heapUsed / MB) },
      cacheHits: traffic?.cacheHits ?? 0,
      // estimated from measured runs: each hit saved the run time of the run whose answer it reused
      ...(traffic !== null && traffic.cacheHits > 0 ? { cacheSavedMs: round(traffic.cacheSavedMs) } : {}),
      // requests forwarded to a cloud node (attempts), detailed in `remote`
      fallbacks: remote?.inferences ?? 0,
      source: fromTraffic ? 'traffic' : 'probe',
      ...(fromTraffic ? { queueMs: roundLatency(traffic.queueMs) } : {}),
      latencyHistogram: stats.histogram,
      ...(remote === null ? {} : { remote: { ...remote, latencyMs: roundLatency(remote.latencyMs) } }),
    });
    this.seq++;
    this.windowStart = end;
    return msg;
  }

  private schedule(): void {
    const due = this.windowStart + this.windowMs;
    this.timer = this.deps.clock.setTimeout(() => {
      // Next window is scheduled before publishing: a slow PUBACK must not stretch windows.
      const closing = this.closeWindow();
      this.schedule();
      void closing;
    }, due - this.deps.clock.now());
  }

  private closeWindow(): Promise<void> {
    let msg: TelemetryWindow;
    try {
      msg = this.buildWindow();
    } catch (err) {
      this.deps.logger.error('telemetry window invalid; dropped', { error: errorMessage(err) });
      return Promise.resolve();
    }
    try {
      this.deps.onWindow?.(msg);
    } catch (err) {
      this.deps.logger.error('window observer failed', { error: errorMessage(err) });
    }
    return this.deps.publish(msg).then(
      () => this.deps.logger.debug('telemetry window closed', { seq: msg.seq, inferences: msg.inferences }),
      (err: unknown) => this.deps.logger.warn('telemetry window not stored', { seq: msg.seq, error: errorMessage(err) }),
    );
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function roundLatency(l: LatencySummary | null): LatencySummary | null {
  return l === null ? null : { p50: round(l.p50), p95: round(l.p95), p99: round(l.p99), max: round(l.max) };
}
