import { devicePublishAllowed, deviceSubscribeAllowed } from '@edge-fleet/shared';

/** Topic ACL of the embedded broker: a device only under its own id, in the right direction; nothing under `$`. */
export function mayPublish(deviceId: string, topic: string): boolean {
  return !topic.startsWith('$') && devicePublishAllowed(deviceId, topic);
}

export function maySubscribe(deviceId: string, filter: string): boolean {
  return !filter.startsWith('$') && deviceSubscribeAllowed(deviceId, filter);
}
