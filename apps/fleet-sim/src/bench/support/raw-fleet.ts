import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { topics, type ActiveModel, type ReportedState } from '@edge-fleet/shared';
import { readSimDesired } from '../../sim/desired.view.js';
import { SIM_AGENT_VERSION } from '../../sim/virtual-device.js';
import { connectPacket, PacketStream, publishPacket, pubackPacket, readPublish, subscribePacket } from './mqtt-packets.js';

const CONNACK = 2;
const PUBLISH = 3;
const SUBACK = 9;

export interface RawFleetOptions {
  host: string;
  port: number;
  devices: { deviceId: string; deviceSecret: string }[];
  /** Loopback source addresses, the devices spread over them (one address has ~28k ephemeral ports). */
  sourceAddresses: string[];
  /** Devices connecting at once. */
  connectConcurrency: number;
  /** A desired state arrived: the device, its assignment version, when (ms). */
  onDesired: (deviceId: string, assignmentVersion: number, at: number) => void;
}

/** What the fleet saw beyond the desired states: connections lost, desired states it could not read. */
export interface RawFleetCounters {
  connected: number;
  refused: number;
  closed: number;
  unreadable: number;
  reported: number;
}

/**
 * The fan-out benchmark's devices on raw sockets, one process: each connects with its own
 * credentials, subscribes to its desired topic, says it is online and reports; on a desired state
 * it acknowledges the PUBLISH and reports the state applied at once, its model active, as the real
 * agent does after an instant update. MQTT is written and read by hand (mqtt-packets.ts), so a
 * device costs a few buffer operations and two JSON parses a desired state rather than an MQTT
 * client library's work: on a two-core box the simulator's CPU otherwise bounds the figures it
 * measures. Like the simulator's devices it does not verify signatures (the real agent does).
 */
export class RawFleet {
  readonly counters: RawFleetCounters = { connected: 0, refused: 0, closed: 0, unreadable: 0, reported: 0 };
  private readonly sockets = new Set<Socket>();
  private stopping = false;

  constructor(private readonly o: RawFleetOptions) {}

  /** Connects every device, `connectConcurrency` at a time; resolves with how many subscribed. */
  async start(): Promise<number> {
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < this.o.devices.length; i = next++) {
        const d = this.o.devices[i];
        const from = this.o.sourceAddresses[i % this.o.sourceAddresses.length];
        if (d) await this.connectOne(d, from);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.o.connectConcurrency) }, worker));
    return this.counters.connected;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.sockets].map(
        (s) =>
          new Promise<void>((resolve) => {
            s.once('close', () => resolve());
            // DISCONNECT, so that the broker publishes no Last Will
            s.end(Buffer.from([0xe0, 0]));
          }),
      ),
    );
  }

  private connectOne(d: { deviceId: string; deviceSecret: string }, localAddress: string | undefined): Promise<void> {
    const { deviceId } = d;
    const bootId = randomUUID();
    const packets = new PacketStream();
    let packetId = 0;
    const nextId = (): number => (packetId = (packetId % 65_535) + 1);
    const report = (socket: Socket, applied: number | null, active: ActiveModel | null): void => {
      const now = new Date().toISOString();
      const r: ReportedState = {
        schema: 1,
        deviceId,
        bootId,
        phase: active ? 'running' : 'idle',
        appliedAssignmentVersion: applied,
        active,
        lastUpdate: applied === null ? null : { assignmentVersion: applied, outcome: 'ok', at: now },
        agentVersion: SIM_AGENT_VERSION,
        reportedAt: now,
      };
      socket.write(publishPacket(nextId(), topics.reported(deviceId), JSON.stringify(r)));
      this.counters.reported += 1;
    };
    return new Promise((resolve) => {
      let settled = false;
      const done = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        if (ok) this.counters.connected += 1;
        else this.counters.refused += 1;
        resolve();
      };
      const socket = connect({ host: this.o.host, port: this.o.port, ...(localAddress ? { localAddress } : {}) });
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.on('connect', () => socket.write(connectPacket(deviceId, d.deviceSecret)));
      socket.on('data', (chunk: Buffer) =>
        packets.push(chunk, (first, body) => {
          const type = first >> 4;
          if (type === CONNACK) {
            if (body[1] !== 0) return void socket.destroy();
            socket.write(subscribePacket(nextId(), topics.desired(deviceId)));
            const status = JSON.stringify({ state: 'online', bootId, at: new Date().toISOString() });
            socket.write(publishPacket(nextId(), topics.status(deviceId), status, true));
            report(socket, null, null);
          } else if (type === SUBACK) {
            done(true);
          } else if (type === PUBLISH) {
            const p = readPublish(first, body);
            if (p.packetId > 0) socket.write(pubackPacket(p.packetId));
            if (p.topic !== topics.desired(deviceId) || p.payload.length === 0) return;
            const desired = this.readDesired(p.payload);
            if (desired?.deviceId !== deviceId) {
              this.counters.unreadable += 1;
              return;
            }
            this.o.onDesired(deviceId, desired.assignmentVersion, Date.now());
            const m = desired.model;
            report(
              socket,
              desired.assignmentVersion,
              m ? { modelVersionId: m.modelVersionId, variantId: m.variantId, precision: m.precision, sha256: m.sha256 } : null,
            );
          }
        }),
      );
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        if (settled && !this.stopping) this.counters.closed += 1;
        done(false);
      });
    });
  }

  /** The desired state inside a message on the desired topic (the signed envelope's payload); null when it is not one. */
  private readDesired(payload: Buffer): ReturnType<typeof readSimDesired> {
    try {
      const envelope = JSON.parse(payload.toString('utf8')) as { payload?: unknown };
      return typeof envelope.payload === 'string' ? readSimDesired(envelope as Parameters<typeof readSimDesired>[0]) : null;
    } catch {
      return null;
    }
  }
}
