import { z } from 'zod';
import { mqttContract, topicOf, type MessageKind } from './mqtt-contract.js';
import { TOPIC_KINDS, TOPIC_ROOT, filters } from './mqtt-topics.js';

/**
 * What an external broker must allow, in the terms of Mosquitto's dynamic-security plugin: the
 * same topics the embedded broker's ACL allows (`devicePublishAllowed`, `deviceSubscribeAllowed`),
 * as literal topics, so a device's role names exactly its own.
 */
export type BrokerAclType = 'publishClientSend' | 'publishClientReceive' | 'subscribeLiteral' | 'subscribePattern';

/** One ACL entry of a dynamic-security role. */
export interface BrokerAcl {
  acltype: BrokerAclType;
  topic: string;
  allow: boolean;
}

/** A device's ACLs: it publishes the kinds devices send and subscribes (and receives) the kinds sent to it, under its own id only. */
export function deviceBrokerAcls(deviceId: string): BrokerAcl[] {
  return TOPIC_KINDS.flatMap((kind: MessageKind): BrokerAcl[] => {
    const topic = topicOf(kind, deviceId);
    return mqttContract[kind].direction === 'device->cloud'
      ? [{ acltype: 'publishClientSend', topic, allow: true }]
      : [
          { acltype: 'subscribeLiteral', topic, allow: true },
          { acltype: 'publishClientReceive', topic, allow: true },
        ];
  });
}

/**
 * The control plane's ACLs: the shared subscriptions of its ingest (`$share/{group}/…`, literally as
 * it subscribes them) and what it publishes to every device (the kinds sent to devices, and the
 * retained `status` it clears when a device is revoked).
 */
export function controlPlaneBrokerAcls(shareGroup: string): BrokerAcl[] {
  const any = '+';
  const sends = TOPIC_KINDS.filter((k) => mqttContract[k].direction === 'cloud->device' || k === 'status');
  return [
    ...[filters.telemetry, filters.reported, filters.status].map((f): BrokerAcl => ({
      acltype: 'subscribeLiteral',
      topic: filters.shared(shareGroup, f),
      allow: true,
    })),
    ...sends.map((k): BrokerAcl => ({ acltype: 'publishClientSend', topic: topicOf(k, any), allow: true })),
    { acltype: 'publishClientReceive', topic: `${TOPIC_ROOT}/#`, allow: true },
  ];
}

/** The dynamic-security plugin's request topic and the topic it answers on (to every subscriber). */
export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = '$CONTROL/dynamic-security/v1/response';

/** One answer of the plugin: the command it answers, an error when it failed, data for reads. */
export const DynsecResponseSchema = z.object({
  command: z.string().max(100),
  error: z.string().max(1_000).optional(),
  correlationData: z.string().max(200).optional(),
  data: z.unknown().optional(),
});
export type DynsecResponse = z.infer<typeof DynsecResponseSchema>;

/** A response message of the plugin: the answers to one request's commands, in order. */
export const DynsecResponsesSchema = z.object({ responses: z.array(DynsecResponseSchema).max(10_000) });

const AclSchema = z.object({ acltype: z.string(), topic: z.string(), allow: z.boolean(), priority: z.number().optional() });

/** `listClients` with `verbose: true`: one page of clients. */
export const DynsecClientListSchema = z.object({
  totalCount: z.number().int().min(0),
  clients: z.array(
    z.object({
      username: z.string(),
      clientid: z.string().optional(),
      disabled: z.boolean().optional(),
      textname: z.string().optional(),
      roles: z.array(z.object({ rolename: z.string() })).optional(),
    }),
  ),
});

/** `getRole`: one role with its ACLs. */
export const DynsecRoleSchema = z.object({ role: z.object({ rolename: z.string(), acls: z.array(AclSchema).optional() }) });

/** `getClient`: one client. */
export const DynsecClientSchema = z.object({
  client: z.object({
    username: z.string(),
    clientid: z.string().optional(),
    disabled: z.boolean().optional(),
    roles: z.array(z.object({ rolename: z.string() })).optional(),
  }),
});
