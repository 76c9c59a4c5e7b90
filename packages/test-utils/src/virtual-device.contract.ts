import type { DesiredModel, DesiredState, ReportedState, UpdateOutcome } from '@edge-fleet/shared';

/** The part of a desired model a virtual device acts on (it runs nothing, so it needs no inputs or manifest). */
export type VirtualModel = Pick<DesiredModel, 'modelVersionId' | 'variantId' | 'precision' | 'sha256' | 'sizeBytes'>;

/** The part of a desired state a virtual device acts on. */
export interface VirtualDesired {
  deviceId: string;
  assignmentVersion: number;
  model: VirtualModel | null;
  runtime: Pick<DesiredState['runtime'], 'windowSeconds' | 'targetRateHz'>;
}

export type UpdateDecision<M extends VirtualModel = VirtualModel> =
  { kind: 'none' } | { kind: 'clear' } | { kind: 'same-model'; model: M } | { kind: 'install'; model: M };

/** What a new desired state asks for, given what runs; older or equal versions are ignored (the anti-rollback watermark). */
export function decideUpdate<M extends VirtualModel>(
  desired: { assignmentVersion: number; model: M | null },
  applied: number | null,
  activeSha256: string | null,
): UpdateDecision<M> {
  if (applied !== null && desired.assignmentVersion <= applied) return { kind: 'none' };
  if (desired.model === null) return { kind: 'clear' };
  if (desired.model.sha256 === activeSha256) return { kind: 'same-model', model: desired.model };
  return { kind: 'install', model: desired.model };
}

export type InstallResult =
  { outcome: 'ok' } | { outcome: 'failed'; reasonCode: NonNullable<UpdateOutcome['reasonCode']>; message: string };

/** What an install may do to the device while it runs. */
export interface InstallContext {
  /** Enters an update step; reported at once when the device reports its phases. */
  setPhase(phase: 'downloading' | 'verifying' | 'loading'): void;
  /** An abrupt crash: the socket dies (the broker publishes the Last Will) and the device boots again with a new boot id. */
  crash(): void;
}

/** What a telemetry window is built from. */
export interface WindowContext<D extends VirtualDesired> {
  deviceId: string;
  bootId: string;
  seq: number;
  /** Where the previous window ended (or telemetry started). */
  startMs: number;
  endMs: number;
  active: NonNullable<D['model']> | null;
  desired: D | null;
}

/**
 * The device's own character: how it reads its desired topic, installs models and fills telemetry
 * windows. The control plane's tests and the fleet simulator each bring theirs; the protocol around
 * it (session, presence, watermark, reports) is the same for both.
 */
export interface VirtualDeviceBehaviour<D extends VirtualDesired> {
  /** Reads a message on the desired topic: the state, or null to ignore it; throwing refuses it (kept in `errors`). */
  readDesired(payload: Buffer): D | null;
  /** Installs a model (download, verify, load): as fast, slow or faulty as this device is. */
  install(model: NonNullable<D['model']>, assignmentVersion: number, ctx: InstallContext): Promise<InstallResult>;
  /** The window that closes now, or null to send none this time. */
  window(ctx: WindowContext<D>): object | null;
  /** How long the next telemetry window lasts. */
  windowMs(desired: D | null): number;
  /** A hung device: while true it sends neither reports nor telemetry. */
  mute?(): boolean;
}

/** What a fleet counts and a test watches; every hook is optional. */
export interface VirtualDeviceEvents<D extends VirtualDesired> {
  connect(): void;
  close(): void;
  error(err: Error): void;
  desired(d: D, at: number): void;
  reported(r: ReportedState): void;
  telemetrySent(): void;
  telemetryAcked(publishedAt: number, ackedAt: number): void;
  telemetryFailed(): void;
  telemetrySkippedOffline(): void;
}

export interface VirtualDeviceOptions<D extends VirtualDesired> {
  deviceId: string;
  deviceSecret: string;
  /** The broker's TCP address, and the local address to connect from (a fleet spreads over several). */
  broker: { host: string; port: number; localAddress?: string | undefined };
  agentVersion: string;
  behaviour: VirtualDeviceBehaviour<D>;
  /** Time before each reconnect, asked again on every connect (jitter); 0: the device never reconnects. */
  reconnectPeriodMs: () => number;
  /**
   * The wait after the `attempt`-th failed reconnection attempt in a row (the agent's doubling,
   * jittered, capped backoff); without it every attempt waits `reconnectPeriodMs()`.
   */
  reconnectBackoffMs?: (attempt: number) => number;
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  /** Report downloading/verifying/loading as the real agent does (default true). */
  reportPhases?: boolean;
  events?: Partial<VirtualDeviceEvents<D>>;
}

/** The TCP address of a plain MQTT broker URL; `localhost` becomes 127.0.0.1 so 127.0.0.x source addresses can reach it. */
export function brokerAddress(url: string): { host: string; port: number } {
  const u = new URL(url);
  if (u.protocol !== 'mqtt:' && u.protocol !== 'tcp:')
    throw new Error(`virtual devices speak plain MQTT over TCP; ${url} is not an mqtt:// URL`);
  const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname;
  return { host, port: u.port ? Number(u.port) : 1883 };
}
