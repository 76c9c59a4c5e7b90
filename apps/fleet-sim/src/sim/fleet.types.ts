import type { MeasuredFigures } from './latency.model.js';

export interface SimTiming {
  /** Overrides the desired state's window length (benchmarks drive higher message rates with it). */
  telemetryIntervalMs: number | null;
  /** Multiplies simulated download/verify/activate times; 0 = instant. */
  updateTimeScale: number;
  slowFactor: number;
  /**
   * Report downloading/verifying/loading as the real agent does. Off in the fan-out benchmark: the
   * control plane handles a device's messages concurrently, so two reports a few ms apart can be
   * stored out of order (see the report's proposed `saveReported` fix).
   */
  reportPhases: boolean;
  reconnectBaseMs: number;
  keepaliveSeconds: number;
}

export interface FleetHooks {
  counters: FleetCounters;
  onDesired?: (deviceId: string, assignmentVersion: number, at: number) => void;
  onTelemetryAcked?: (publishedAt: number, ackedAt: number) => void;
  measured: (modelVersionId: string, variantId: string) => MeasuredFigures | null;
}

export interface FleetCounters {
  connected: number;
  connects: number;
  connectErrors: number;
  telemetrySent: number;
  telemetryAcked: number;
  telemetryFailed: number;
  telemetrySkippedOffline: number;
  reportedSent: number;
  desiredReceived: number;
  updatesOk: number;
  updatesFailed: number;
  crashes: number;
  flaps: number;
}

export const newCounters = (): FleetCounters => ({
  connected: 0,
  connects: 0,
  connectErrors: 0,
  telemetrySent: 0,
  telemetryAcked: 0,
  telemetryFailed: 0,
  telemetrySkippedOffline: 0,
  reportedSent: 0,
  desiredReceived: 0,
  updatesOk: 0,
  updatesFailed: 0,
  crashes: 0,
  flaps: 0,
});
