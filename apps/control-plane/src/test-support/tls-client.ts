import { request as httpsRequest } from 'node:https';
import { EnrollResponseSchema, hardwarePreset, type EnrollResponse } from '@edge-fleet/shared';
import mqtt, { type MqttClient } from 'mqtt';

export interface HttpsAnswer {
  status: number;
  body: string;
}

/**
 * One HTTPS request trusting `ca` alone (node:https): how a test reaches a control plane with TLS=on,
 * whose generated CA the platform's fetch does not know.
 */
export function httpsCall(
  method: string,
  url: string,
  ca: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Enrolls a device through a control plane with TLS=on (token and enrollment over HTTPS, trusting `ca`). */
export async function enrollOverHttps(cp: { url: string; operatorToken: string }, ca: string): Promise<EnrollResponse> {
  const auth = { authorization: `Bearer ${cp.operatorToken}` };
  const created = await httpsCall('POST', `${cp.url}/api/v1/enrollment-tokens`, ca, { scenario: 'robotic_manipulation' }, auth);
  if (created.status !== 201) throw new Error(`enrollment token not created: ${created.status} ${created.body}`);
  const enrolled = await httpsCall('POST', `${cp.url}/api/v1/devices/enroll`, ca, {
    token: (JSON.parse(created.body) as { token: string }).token,
    hardwareProfile: hardwarePreset('robot-npu-arm'),
  });
  if (enrolled.status !== 201) throw new Error(`enroll failed: ${enrolled.status} ${enrolled.body}`);
  return EnrollResponseSchema.parse(JSON.parse(enrolled.body));
}

/** Connects as the enrolled device to the broker it was handed, over mqtts trusting the CA it was handed. */
export function connectOverTls(device: EnrollResponse): Promise<MqttClient> {
  return mqtt.connectAsync(device.mqtt.url, {
    clientId: device.deviceId,
    username: device.deviceId,
    password: device.deviceSecret,
    ca: device.tls?.caCertificate,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
}
