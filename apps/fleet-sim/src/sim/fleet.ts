import { readFileSync } from 'node:fs';
import { brokerAddress } from '@edge-fleet/test-utils/virtual-device';
import { z } from 'zod';
import { mapLimit } from '../core/stats.js';
import type { ControlPlaneClient } from './control-plane.client.js';
import type { SimDeviceCredentials } from './credentials.file.js';
import { faultCounts, selectFaults, type FaultKind, type FaultShares } from './faults.js';
import { newCounters, type FleetCounters, type FleetHooks, type SimTiming } from './fleet.types.js';
import type { MeasuredFigures } from './latency.model.js';
import { VirtualDevice } from './virtual-device.js';

export interface FleetOptions {
  devices: readonly SimDeviceCredentials[];
  mqttUrl: string;
  /** Source addresses to spread connections over (loopback 127.0.0.x when one runs out of ports). */
  sourceAddresses: readonly string[];
  faults: FaultShares;
  seed: number;
  timing: SimTiming;
  /** Connections being set up at once; the broker checks each device's secret hash on CONNECT. */
  connectConcurrency: number;
  /** Reads variants' measured figures over REST when an operator token is at hand. */
  client: ControlPlaneClient | null;
  onDesired?: FleetHooks['onDesired'];
  onTelemetryAcked?: FleetHooks['onTelemetryAcked'];
}

const MeasuredSchema = z.object({ p50Ms: z.number().positive(), p99Ms: z.number().positive() });
const ModelVersionSchema = z.object({ variants: z.array(z.object({ id: z.string(), measured: z.unknown() })) });

/** Ephemeral ports one source address can use towards one broker port. */
export function ephemeralPorts(read: () => string = () => readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')): number {
  try {
    const [lo, hi] = read().trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && hi > lo) return hi - lo + 1;
  } catch {
    // not Linux: assume the IANA default range
  }
  return 16_384;
}

/** Enough 127.0.0.x addresses that no address needs more than 90 % of its ephemeral ports. */
export function autoSourceAddresses(devices: number, portsPerAddress = ephemeralPorts()): string[] {
  const n = Math.max(1, Math.ceil(devices / Math.floor(portsPerAddress * 0.9)));
  if (n > 250) throw new Error(`${devices} devices need ${n} source addresses; at most 250 loopback addresses are used`);
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
}

/** N virtual devices in one process. */
export class Fleet {
  readonly counters: FleetCounters = newCounters();
  readonly devices: VirtualDevice[];
  readonly faultCounts: Record<FaultKind, number>;
  private readonly measuredCache = new Map<string, MeasuredFigures | null>();

  constructor(private readonly o: FleetOptions) {
    const broker = brokerAddress(o.mqttUrl);
    const faults = selectFaults(o.devices.length, o.faults, o.seed);
    this.faultCounts = faultCounts(faults);
    const hooks: FleetHooks = {
      counters: this.counters,
      onDesired: o.onDesired,
      onTelemetryAcked: o.onTelemetryAcked,
      measured: (mv, v) => this.measured(mv, v),
    };
    this.devices = o.devices.map(
      (creds, i) =>
        new VirtualDevice({
          creds,
          broker,
          localAddress: o.sourceAddresses.length > 0 ? o.sourceAddresses[i % o.sourceAddresses.length] : undefined,
          faults: faults[i] ?? new Set(),
          seed: (o.seed + Math.imul(i + 1, 0x85ebca6b)) >>> 0,
          timing: o.timing,
          hooks,
        }),
    );
  }

  /**
   * Starts every device, at most `connectConcurrency` connecting at once; resolves with how many
   * connected. With `holdTelemetry`, no device publishes telemetry until all have connected.
   */
  async start(onProgress?: (connected: number, total: number) => void, holdTelemetry = false): Promise<number> {
    let ok = 0;
    await mapLimit(this.devices, this.o.connectConcurrency, async (d) => {
      d.start(!holdTelemetry);
      if (await d.connectedOnce()) ok += 1;
      if (onProgress && (ok % 500 === 0 || ok === this.devices.length)) onProgress(ok, this.devices.length);
    });
    if (holdTelemetry) for (const d of this.devices) d.startTelemetry();
    return ok;
  }

  async stop(): Promise<void> {
    await mapLimit(this.devices, 200, (d) => d.stop());
  }

  /** A variant's measured figures, fetched once per model version; null (default cost model) until known. */
  private measured(modelVersionId: string, variantId: string): MeasuredFigures | null {
    const key = `${modelVersionId}/${variantId}`;
    if (this.measuredCache.has(key)) return this.measuredCache.get(key) ?? null;
    this.measuredCache.set(key, null);
    const client = this.o.client;
    if (client) {
      client
        .getJson(`/api/v1/models/${modelVersionId}`)
        .then((body) => {
          const variant = ModelVersionSchema.parse(body).variants.find((v) => v.id === variantId);
          const figures = MeasuredSchema.safeParse(variant?.measured);
          if (figures.success) this.measuredCache.set(key, figures.data);
        })
        .catch(() => undefined); // the default cost model stays in use
    }
    return null;
  }
}
