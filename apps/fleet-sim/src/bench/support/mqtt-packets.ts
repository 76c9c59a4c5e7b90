import { topics, type TelemetryWindow } from '@edge-fleet/shared';

/**
 * MQTT 3.1.1 packets written by hand for the ingest load generator: a CONNECT per device and
 * telemetry PUBLISHes (QoS 1) built from a pre-serialised template, so that generating load costs
 * a few string joins per message, not a client library's work. Only what the generator sends and
 * the acknowledgements it reads.
 */

function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

function utf8(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** CONNECT with client id and username = the device id, its secret as password, clean session, no keepalive. */
export function connectPacket(deviceId: string, secret: string): Buffer {
  // protocol name, level 4 (3.1.1), flags: username + password + clean session, keepalive 0 (off)
  const body = Buffer.concat([utf8('MQTT'), Buffer.from([4, 0xc2, 0, 0]), utf8(deviceId), utf8(deviceId), utf8(secret)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

const SEQ = 987_654_321;
const START = '1999-01-01T00:00:00.001Z';
const END = '1999-01-01T00:00:00.002Z';

/**
 * A device's telemetry PUBLISH with everything but the packet id, the sequence number and the
 * window's times serialised once: the parts between those fields, joined per message.
 */
export class TelemetryPublisher {
  private readonly topic: Buffer;
  private readonly parts: [string, string, string, string];

  constructor(deviceId: string, bootId: string) {
    this.topic = utf8(topics.telemetry(deviceId));
    const window: TelemetryWindow = {
      schema: 1,
      deviceId,
      bootId,
      seq: SEQ,
      windowStart: START,
      windowEnd: END,
      modelVersionId: null,
      variantId: null,
      precision: null,
      inferences: 0,
      errors: 0,
      latencyMs: null,
      power: { watts: 1.2, source: 'simulated', detail: 'bench:ingest raw load generator' },
      memory: { rssMb: 96, heapUsedMb: 12 },
      cacheHits: 0,
      fallbacks: 0,
      source: 'probe',
    };
    const json = JSON.stringify(window);
    const [a, rest1] = split(json, String(SEQ));
    const [b, rest2] = split(rest1, START);
    const [c, d] = split(rest2, END);
    this.parts = [a, b, c, d];
  }

  /** PUBLISH QoS 1 of window `seq` spanning [startMs, endMs], packet id `packetId` (1..65535). */
  packet(packetId: number, seq: number, startMs: number, endMs: number): Buffer {
    const [a, b, c, d] = this.parts;
    const payload = Buffer.from(a + seq + b + new Date(startMs).toISOString() + c + new Date(endMs).toISOString() + d, 'utf8');
    const id = Buffer.from([packetId >> 8, packetId & 0xff]);
    const length = this.topic.length + 2 + payload.length;
    return Buffer.concat([Buffer.from([0x32]), remainingLength(length), this.topic, id, payload]);
  }
}

function split(s: string, marker: string): [string, string] {
  const i = s.indexOf(marker);
  if (i < 0) throw new Error(`template marker ${marker} not found`);
  return [s.slice(0, i), s.slice(i + marker.length)];
}

/** What the broker sent back, read off a byte stream: CONNACK return codes and PUBACK counts. */
export class AckReader {
  private buf: Buffer = Buffer.alloc(0);
  connack: number | null = null;
  pubacks = 0;

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.buf.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (; i < 5; i++) {
        const b = this.buf[i];
        if (b === undefined) return;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) break;
      }
      const total = i + 1 + len;
      if (this.buf.length < total) return;
      const type = (this.buf[0] ?? 0) >> 4;
      if (type === 2) this.connack = this.buf[i + 2] ?? 255;
      else if (type === 4) this.pubacks += 1;
      this.buf = this.buf.subarray(total);
    }
  }
}
