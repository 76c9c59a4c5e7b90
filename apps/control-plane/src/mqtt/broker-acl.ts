import { TOPIC_ROOT, devicePublishAllowed, deviceSubscribeAllowed } from '@edge-fleet/shared';

/** Who an authenticated MQTT connection is. */
export type Identity = { kind: 'service' } | { kind: 'device'; deviceId: string };

const serviceScope = (topic: string): boolean => topic === TOPIC_ROOT || topic.startsWith(`${TOPIC_ROOT}/`);

/** Topic ACL for the embedded broker: a device only under its own id, the control plane only under the root. */
export function mayPublish(id: Identity, topic: string): boolean {
  if (topic.startsWith('$')) return false;
  return id.kind === 'service' ? serviceScope(topic) : devicePublishAllowed(id.deviceId, topic);
}

export function maySubscribe(id: Identity, filter: string): boolean {
  if (filter.startsWith('$')) return false;
  return id.kind === 'service' ? serviceScope(filter) : deviceSubscribeAllowed(id.deviceId, filter);
}
