import type { DesiredModel, DesiredState, HardwarePresetName, RuntimeSettings, Scenario } from '@edge-fleet/shared';
import { hardwarePreset, topics } from '@edge-fleet/shared';
import type { StoredCredentials } from '../storage/credentials.store.js';
import { BROKER_URL, type MqttProbe } from './mqtt.probe.js';
import type { TestSigner } from './test-signer.js';

/** Credentials as enrollment would leave them, on the test broker, trusting the signer's root key. */
export function testCredentials(deviceId: string, signer: TestSigner, scenario: Scenario, preset: HardwarePresetName): StoredCredentials {
  return {
    schema: 1,
    deviceId,
    deviceSecret: 's'.repeat(40),
    scenario,
    mqtt: { url: BROKER_URL, username: deviceId, clientId: deviceId },
    rootPublicKey: signer.rootPublicKey,
    controlPlaneUrl: 'http://127.0.0.1:9',
    enrolledAt: new Date().toISOString(),
    hardwareProfile: hardwarePreset(preset),
    profileLabel: preset,
  };
}

/** A desired state carrying a model signed for this device and assignment. */
export function signedDesiredState(
  signer: TestSigner,
  deviceId: string,
  assignmentVersion: number,
  scenario: Scenario,
  model: Omit<DesiredModel, 'manifest'>,
  runtime: RuntimeSettings,
): DesiredState {
  return {
    schema: 1,
    deviceId,
    assignmentVersion,
    issuedAt: new Date().toISOString(),
    scenario,
    reason: 'test',
    model: signer.signed(model, deviceId, assignmentVersion),
    runtime,
  };
}

/** Clears what a test left retained on the shared broker, then disconnects the probe. */
export async function clearRetainedAndClose(probe: MqttProbe, deviceId: string): Promise<void> {
  await probe.publish(topics.desired(deviceId), null, true);
  await probe.publish(topics.status(deviceId), null, true);
  await probe.close();
}
