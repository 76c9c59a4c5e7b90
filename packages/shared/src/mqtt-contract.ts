import type { z } from 'zod';
import { parseTopic, topics, type TopicKind } from './mqtt-topics.js';
import {
  CommandAckSchema,
  CommandSchema,
  ReportedStateSchema,
  SignedDesiredStateSchema,
  StatusMessageSchema,
  TelemetryWindowSchema,
} from './schemas.js';
import { checkTelemetryWindow } from './telemetry-window-check.js';

/**
 * The MQTT contract: for every message the system sends, who sends it, its payload schema and how
 * it is published. Senders and receivers take everything from here (zigbee2mqtt's topic → payload
 * map, `lib/types/api.ts`), so a topic, its payload type and its QoS cannot drift apart.
 */

/** Who publishes a kind: a device (the control plane receives) or the control plane (a device receives). */
export type Direction = 'device->cloud' | 'cloud->device';

/** MQTT delivery guarantee. */
export type QoS = 0 | 1 | 2;

/** What the contract says about one kind of message. */
export interface MessageContract {
  direction: Direction;
  /** The payload, as JSON. */
  schema: z.ZodType;
  /**
   * A hot path's hand-written check that accepts exactly what `schema` accepts (proved against it
   * in a test) and returns the schema's output, or null; a value it refuses is parsed by `schema`,
   * whose issues name the fields.
   */
  check?: (value: unknown) => unknown;
  qos: QoS;
  /** Retained: the broker keeps the last one for late subscribers; a zero-length payload clears it. */
  retain: boolean;
  /** Larger payloads are refused before they are decoded: a receiver never parses more than this. */
  maxBytes: number;
  /** The payload names its device: it must be the device of the topic (the one the broker authenticated). */
  deviceIdInPayload: boolean;
}

const KiB = 1024;

/** Every MQTT message of the system, by topic kind. */
export const mqttContract = {
  /** One telemetry window summary; the device deletes it from its outbox on PUBACK. */
  telemetry: {
    direction: 'device->cloud',
    schema: TelemetryWindowSchema,
    // thousands a second on one replica: zod was 14 % of its CPU (README, Performance)
    check: checkTelemetryWindow,
    qos: 1,
    retain: false,
    maxBytes: 64 * KiB,
    deviceIdInPayload: true,
  },
  /** What the device actually runs (phase, active model, last update outcome, measurements). */
  reported: {
    direction: 'device->cloud',
    schema: ReportedStateSchema,
    qos: 1,
    retain: false,
    maxBytes: 64 * KiB,
    deviceIdInPayload: true,
  },
  /** Presence: `online` on connect, `offline` on a clean stop and as the Last Will the broker publishes. */
  status: {
    direction: 'device->cloud',
    schema: StatusMessageSchema,
    qos: 1,
    retain: true,
    maxBytes: 1 * KiB,
    deviceIdInPayload: false,
  },
  /** The full desired state, signed as a whole; retained so a reconnecting device converges from one message. */
  desired: {
    direction: 'cloud->device',
    schema: SignedDesiredStateSchema,
    qos: 1,
    retain: true,
    // a 256 KiB signed payload in base64 plus the signature and the signing key's certificate
    maxBytes: 512 * KiB,
    deviceIdInPayload: false,
  },
  /** A request to the device, answered on `commands/ack` with the same correlation id. */
  commands: {
    direction: 'cloud->device',
    schema: CommandSchema,
    qos: 1,
    retain: false,
    maxBytes: 1 * KiB,
    deviceIdInPayload: false,
  },
  /** The answer to a command: `status: ok | error` with a code. */
  'commands/ack': {
    direction: 'device->cloud',
    schema: CommandAckSchema,
    qos: 1,
    retain: false,
    maxBytes: 16 * KiB,
    deviceIdInPayload: false,
  },
} as const satisfies Record<TopicKind, MessageContract>;

/** A kind of message: one per topic of a device. */
export type MessageKind = keyof typeof mqttContract;

/** The kinds a device publishes. */
export type DeviceMessageKind = {
  [K in MessageKind]: (typeof mqttContract)[K]['direction'] extends 'device->cloud' ? K : never;
}[MessageKind];

/** The kinds the control plane publishes to a device. */
export type CloudMessageKind = Exclude<MessageKind, DeviceMessageKind>;

/** What a sender passes for a kind (fields with defaults may be left out). */
export type Payload<K extends MessageKind> = z.input<(typeof mqttContract)[K]['schema']>;

/** What a receiver gets for a kind, once validated (defaults filled in). */
export type Message<K extends MessageKind> = z.output<(typeof mqttContract)[K]['schema']>;

/** Options to publish a kind with, as the contract fixes them. */
export interface PublishOptions {
  qos: QoS;
  retain: boolean;
}

/** Everything `client.publish` needs for one message: MQTT.js takes the JSON text as the payload. */
export interface PublishArgs {
  topic: string;
  /** The payload's JSON text (sent as UTF-8). */
  payload: string;
  options: PublishOptions;
}

/**
 * The JSON codec of every MQTT payload. Strings rather than bytes on the way out: MQTT.js writes a
 * string as UTF-8 itself, and this package stays free of Node's Buffer.
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value);
}

// a byte order mark is kept, so that JSON.parse refuses it as Buffer#toString + JSON.parse always did
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Decodes a payload's UTF-8 JSON; `undefined` when it is not JSON (invalid UTF-8 decodes as U+FFFD first). */
export function decodeJson(bytes: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : utf8.decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/** The publish options of a kind. */
export function publishOptions(kind: MessageKind): PublishOptions {
  const c: MessageContract = mqttContract[kind];
  return { qos: c.qos, retain: c.retain };
}

/**
 * A kind's payload as the JSON text to publish. Typed, not validated: a sender that builds a
 * payload from anything it did not make itself validates it with `mqttContract[kind].schema`.
 */
export function encodeMessage<K extends MessageKind>(_kind: K, payload: Payload<K>): string {
  return encodeJson(payload);
}

/** Topic, JSON text and options for one message of `kind` on `deviceId`'s topic. */
export function publishArgs<K extends MessageKind>(kind: K, deviceId: string, payload: Payload<K>): PublishArgs {
  return { topic: topicOf(kind, deviceId), payload: encodeMessage(kind, payload), options: publishOptions(kind) };
}

/** A connection's Last Will, in the shape MQTT.js's `will` option takes. */
export interface LastWill extends PublishOptions {
  topic: string;
  payload: string;
}

/**
 * The Last Will every device connects with: `offline` on its status topic, retained, which the
 * broker publishes when the connection ends without a clean stop.
 */
export function lastWill(deviceId: string): LastWill {
  const m = publishArgs('status', deviceId, { state: 'offline' });
  return { topic: m.topic, payload: m.payload, ...m.options };
}

/** The topic of one kind for one device. */
export function topicOf(kind: MessageKind, deviceId: string): string {
  switch (kind) {
    case 'telemetry':
      return topics.telemetry(deviceId);
    case 'reported':
      return topics.reported(deviceId);
    case 'status':
      return topics.status(deviceId);
    case 'desired':
      return topics.desired(deviceId);
    case 'commands':
      return topics.commands(deviceId);
    case 'commands/ack':
      return topics.commandAck(deviceId);
  }
}

/** One schema problem: where (the zod path, `(root)` for the whole payload) and what. */
export interface PayloadIssue {
  path: string;
  message: string;
}

/**
 * Why a message was refused. `reason` is one line for logs and dead letters; it names the problem,
 * never echoes the payload.
 * - `unknown_topic`: not a device topic of the contract (no kind, no device);
 * - `cleared`: a zero-length payload on a retained topic, which clears the retained message;
 * - `too_large`: more bytes than the kind's `maxBytes`, refused before decoding;
 * - `bad_json`: not UTF-8 JSON (a zero-length payload on a topic that is not retained, too);
 * - `schema`: JSON that fails the kind's schema; `issues` name each field, `value` is the JSON;
 * - `device_mismatch`: the payload names another device than the topic's.
 */
export type MessageError =
  | { code: 'unknown_topic' | 'cleared' | 'too_large' | 'bad_json' | 'device_mismatch'; reason: string }
  | { code: 'schema'; reason: string; issues: PayloadIssue[]; value: unknown };

/** The outcome of parsing one message of a known kind: its validated payload, or why it was refused. */
export type Parsed<K extends MessageKind> =
  { ok: true; kind: K; deviceId: string; payload: Message<K> } | { ok: false; kind: K; deviceId: string; error: MessageError };

/** `parseMessage`'s answer: discriminated by `kind` (null when the topic is not in the contract), then by `ok`. */
export type ParsedMessage = { [K in MessageKind]: Parsed<K> }[MessageKind] | { ok: false; kind: null; deviceId: null; error: MessageError };

/** Most issues a schema error lists in its `reason` (all stay in `issues`). */
const REASON_ISSUES = 5;

/** Issues as one line naming each offending field: `a.b: message; c: message`. */
export function formatIssues(issues: readonly PayloadIssue[], max = REASON_ISSUES): string {
  return issues
    .slice(0, max)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
}

function toIssues(error: z.ZodError): PayloadIssue[] {
  return error.issues.map((i) => ({ path: i.path.length > 0 ? i.path.map(String).join('.') : '(root)', message: i.message }));
}

function refused<K extends MessageKind>(kind: K, deviceId: string, error: MessageError): Parsed<K> {
  return { ok: false, kind, deviceId, error };
}

/**
 * Parses the payload of a message whose kind and device are known (from `parseTopic`): size first,
 * then JSON, then the kind's schema, then the device named in the payload. Never throws.
 */
export function parsePayload<K extends MessageKind>(kind: K, deviceId: string, bytes: Uint8Array): Parsed<K> {
  const c: MessageContract = mqttContract[kind];
  if (bytes.length === 0 && c.retain) return refused(kind, deviceId, { code: 'cleared', reason: 'the retained message was cleared' });
  if (bytes.length > c.maxBytes) {
    return refused(kind, deviceId, { code: 'too_large', reason: `payload of ${bytes.length} bytes exceeds ${c.maxBytes}` });
  }
  const json = decodeJson(bytes);
  if (json === undefined) return refused(kind, deviceId, { code: 'bad_json', reason: 'payload is not valid JSON' });
  let payload = (c.check?.(json) ?? null) as Message<K> | null;
  if (payload === null) {
    const r = c.schema.safeParse(json);
    if (!r.success) {
      const issues = toIssues(r.error);
      return refused(kind, deviceId, { code: 'schema', reason: `schema: ${formatIssues(issues)}`, issues, value: json });
    }
    payload = r.data as Message<K>;
  }
  if (c.deviceIdInPayload && (payload as { deviceId?: unknown }).deviceId !== deviceId) {
    return refused(kind, deviceId, { code: 'device_mismatch', reason: 'deviceId in payload does not match the topic' });
  }
  return { ok: true, kind, deviceId, payload };
}

/**
 * Parses one received message: its topic against the topic map, its payload against the kind's
 * contract. Switch on `kind`, then check `ok`; `error.reason` says what was wrong. Never throws.
 */
export function parseMessage(topic: string, bytes: Uint8Array): ParsedMessage {
  const t = parseTopic(topic);
  if (t === null) {
    const reason = `topic ${JSON.stringify(topic.slice(0, 200))} is not a device topic of the contract`;
    return { ok: false, kind: null, deviceId: null, error: { code: 'unknown_topic', reason } };
  }
  return parsePayload(t.kind, t.deviceId, bytes) as ParsedMessage;
}

/** A device may publish only to its own topics, and only the kinds devices send. */
export function devicePublishAllowed(deviceId: string, topic: string): boolean {
  const p = parseTopic(topic);
  return p !== null && p.deviceId === deviceId && mqttContract[p.kind].direction === 'device->cloud';
}

/** A device may subscribe only to its own topics, and only the kinds sent to devices. */
export function deviceSubscribeAllowed(deviceId: string, filter: string): boolean {
  const p = parseTopic(filter);
  return p !== null && p.deviceId === deviceId && mqttContract[p.kind].direction === 'cloud->device';
}
