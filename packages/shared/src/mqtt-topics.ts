/** The MQTT topic map: every topic is built and parsed here, never written as a literal (payloads: mqtt-contract.ts). */
/** Every device topic starts here. */
export const TOPIC_ROOT = 'fleet/v1/devices';

/** The kinds of message a device topic carries, one topic per kind (their payloads: `mqttContract`). */
export const TOPIC_KINDS = ['desired', 'reported', 'telemetry', 'status', 'commands', 'commands/ack'] as const;
/** One of `TOPIC_KINDS`. */
export type TopicKind = (typeof TOPIC_KINDS)[number];

const kindSet: ReadonlySet<string> = new Set(TOPIC_KINDS);

/** Topic builders for one device. */
export const topics = {
  desired: (deviceId: string): string => `${TOPIC_ROOT}/${deviceId}/desired`,
  reported: (deviceId: string): string => `${TOPIC_ROOT}/${deviceId}/reported`,
  telemetry: (deviceId: string): string => `${TOPIC_ROOT}/${deviceId}/telemetry`,
  status: (deviceId: string): string => `${TOPIC_ROOT}/${deviceId}/status`,
  commands: (deviceId: string): string => `${TOPIC_ROOT}/${deviceId}/commands`,
  commandAck: (deviceId: string): string => `${TOPIC_ROOT}/${deviceId}/commands/ack`,
  /** Everything under one device: the only subtree a device may use. */
  deviceRoot: (deviceId: string): string => `${TOPIC_ROOT}/${deviceId}/`,
} as const;

/** Wildcard filters the control plane subscribes to. */
export const filters = {
  reported: `${TOPIC_ROOT}/+/reported`,
  telemetry: `${TOPIC_ROOT}/+/telemetry`,
  status: `${TOPIC_ROOT}/+/status`,
  commandAck: `${TOPIC_ROOT}/+/commands/ack`,
  /** A shared subscription so that control-plane replicas split the load. */
  shared: (group: string, filter: string): string => `$share/${group}/${filter}`,
} as const;

/** A device topic read back: whose it is and which kind. */
export interface ParsedTopic {
  deviceId: string;
  kind: TopicKind;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Parses a concrete device topic; returns null for anything outside the map. */
export function parseTopic(topic: string): ParsedTopic | null {
  const prefix = `${TOPIC_ROOT}/`;
  if (!topic.startsWith(prefix)) return null;
  const rest = topic.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const deviceId = rest.slice(0, slash);
  const kind = rest.slice(slash + 1);
  if (!UUID.test(deviceId) || !kindSet.has(kind)) return null;
  return { deviceId, kind: kind as TopicKind };
}
