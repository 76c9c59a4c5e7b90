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

/**
 * Whole MQTT packets read off a byte stream: each handed on as its first byte (type and flags) and
 * its body (what follows the remaining length), a packet split across reads kept until it is whole.
 */
export class PacketStream {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onPacket: (first: number, body: Buffer) => void): void {
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
      const first = this.buf[0] ?? 0;
      const body = this.buf.subarray(i + 1, total);
      this.buf = this.buf.subarray(total);
      onPacket(first, body);
    }
  }
}

/** What the broker sent back: CONNACK return codes and PUBACK counts. */
export class AckReader {
  private readonly stream = new PacketStream();
  connack: number | null = null;
  pubacks = 0;

  push(chunk: Buffer): void {
    this.stream.push(chunk, (first, body) => {
      const type = first >> 4;
      if (type === 2) this.connack = body[1] ?? 255;
      else if (type === 4) this.pubacks += 1;
    });
  }
}

/** SUBSCRIBE to one topic at QoS 1. */
export function subscribePacket(packetId: number, topic: string): Buffer {
  const body = Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), utf8(topic), Buffer.from([1])]);
  return Buffer.concat([Buffer.from([0x82]), remainingLength(body.length), body]);
}

/** PUBLISH at QoS 1, retained or not. */
export function publishPacket(packetId: number, topic: string, payload: string, retain = false): Buffer {
  const body = Buffer.concat([utf8(topic), Buffer.from([packetId >> 8, packetId & 0xff]), Buffer.from(payload, 'utf8')]);
  return Buffer.concat([Buffer.from([retain ? 0x33 : 0x32]), remainingLength(body.length), body]);
}

/** PUBACK of an incoming QoS 1 PUBLISH. */
export function pubackPacket(packetId: number): Buffer {
  return Buffer.from([0x40, 2, packetId >> 8, packetId & 0xff]);
}

/** An incoming PUBLISH's topic, packet id (0 at QoS 0) and payload, from its first byte and body. */
export function readPublish(first: number, body: Buffer): { topic: string; packetId: number; payload: Buffer } {
  const topicLength = body.readUInt16BE(0);
  const topic = body.toString('utf8', 2, 2 + topicLength);
  const qos = (first >> 1) & 3;
  const at = 2 + topicLength;
  return qos > 0
    ? { topic, packetId: body.readUInt16BE(at), payload: body.subarray(at + 2) }
    : { topic, packetId: 0, payload: body.subarray(at) };
}
