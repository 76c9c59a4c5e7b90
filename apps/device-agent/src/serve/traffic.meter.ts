import type { Clock } from '../core/clock.js';
import { LatencyWindow, type LatencySummary, type WindowStats } from '../telemetry/latency.window.js';
import type { ServedRequest } from './serving.slot.js';

export interface TrafficWindow {
  stats: WindowStats;
  queueMs: LatencySummary | null;
  /** Requests answered from the result cache (no run). */
  cacheHits: number;
  /** The measured run times of the runs whose answers those hits reused: the inference time they saved (estimated). */
  cacheSavedMs: number;
  /** Hybrid devices: attempts to have a cloud node answer (errors: no answer), with the round trips of the answered ones. */
  remote: { inferences: number; errors: number; latencyMs: LatencySummary | null; bytesSent: number; bytesReceived: number } | null;
}

/**
 * Applications' requests for the telemetry window: inference time and queue wait kept apart (a
 * slow model and an overloaded device look different to an operator), and when the last one came,
 * so the probe can stand aside while there is real traffic.
 */
export class TrafficMeter {
  private readonly inference = new LatencyWindow();
  private readonly queue = new LatencyWindow();
  private readonly remote = new LatencyWindow();
  private remoteBytesSent = 0;
  private remoteBytesReceived = 0;
  private lastAt = Number.NEGATIVE_INFINITY;
  private cacheHits = 0;
  private cacheSavedMs = 0;

  constructor(private readonly clock: Clock) {}

  record(r: ServedRequest): void {
    this.lastAt = this.clock.now();
    this.inference.record(r.inferenceMs, r.ok);
    this.queue.record(r.queueMs, true);
  }

  /** One forwarding attempt to a cloud node (RemoteAttempt): kept apart from local runs, whose latency the gates judge. */
  recordRemote(a: { ok: boolean; ms: number | null; bytesSent: number; bytesReceived: number }): void {
    this.lastAt = this.clock.now();
    this.remote.record(a.ms, a.ok);
    this.remoteBytesSent += a.bytesSent;
    this.remoteBytesReceived += a.bytesReceived;
  }

  recordCacheHit(savedMs: number): void {
    this.lastAt = this.clock.now();
    this.cacheHits++;
    this.cacheSavedMs += savedMs;
  }

  /** Milliseconds since the last request (Infinity before the first). */
  idleMs(): number {
    return this.clock.now() - this.lastAt;
  }

  drain(): TrafficWindow {
    const { cacheHits, cacheSavedMs } = this;
    this.cacheHits = 0;
    this.cacheSavedMs = 0;
    const remote = this.remote.drain();
    const { remoteBytesSent: bytesSent, remoteBytesReceived: bytesReceived } = this;
    this.remoteBytesSent = 0;
    this.remoteBytesReceived = 0;
    return {
      stats: this.inference.drain(),
      queueMs: this.queue.drain().latencyMs,
      cacheHits,
      cacheSavedMs,
      remote:
        remote.inferences > 0
          ? { inferences: remote.inferences, errors: remote.errors, latencyMs: remote.latencyMs, bytesSent, bytesReceived }
          : null,
    };
  }
}

/** `idle`: the probe runs only while no application has sent a request for PROBE_IDLE_MS; `always`; `off`. */
export type ProbeMode = 'idle' | 'always' | 'off';

/** Long enough that steady traffic at ≥ 1 request/s keeps the probe quiet, short enough that a window rarely goes empty. */
export const PROBE_IDLE_MS = 1_000;

export function probeGate(mode: ProbeMode, meter: TrafficMeter): () => boolean {
  switch (mode) {
    case 'always':
      return () => true;
    case 'off':
      return () => false;
    case 'idle':
      return () => meter.idleMs() >= PROBE_IDLE_MS;
  }
}
