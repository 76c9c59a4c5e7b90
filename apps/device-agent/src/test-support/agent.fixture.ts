import {
  type DesiredModel,
  type DesiredState,
  hardwarePreset,
  type HardwarePresetName,
  type RuntimeSettings,
  type Scenario,
  topics,
} from '@edge-fleet/shared';
import { saveCredentials, type StoredCredentials } from '../storage/credentials.store.js';
import type { ModelFile } from './models.js';
import { BROKER_URL, type MqttProbe } from './mqtt.probe.js';
import type { TestSigner } from './test-signer.js';

/**
 * A device as enrollment would leave it, on the test broker, trusting `rootPublicKey` (a TestSigner's
 * root): its credentials, saved in `dataDir` for an agent to start from.
 */
export async function enrolledTestDevice(
  dataDir: string,
  deviceId: string,
  rootPublicKey: string,
  secretChar = 'x',
): Promise<StoredCredentials> {
  const creds: StoredCredentials = {
    schema: 1,
    deviceId,
    deviceSecret: secretChar.repeat(40),
    scenario: 'financial_trading',
    mqtt: { url: BROKER_URL, username: deviceId, clientId: deviceId },
    rootPublicKey,
    controlPlaneUrl: 'http://127.0.0.1:9',
    enrolledAt: new Date().toISOString(),
    hardwareProfile: hardwarePreset('edge-npu-trading'),
    profileLabel: 'edge-npu-trading',
  };
  await saveCredentials(dataDir, creds);
  return creds;
}

/** Clears what a test left retained for its device on the shared broker. */
export async function clearRetained(probe: MqttProbe, deviceId: string): Promise<void> {
  await probe.publish(topics.desired(deviceId), null, true);
  await probe.publish(topics.status(deviceId), null, true);
}

/** A model file as a test serves it: `key` names its variant (`var-<key>`) and model version (`mv-<key>`). */
export interface ServedModel {
  key: string;
  file: ModelFile;
  url: string;
}

/**
 * A test device's desired state as the control plane builds it: the served model with its manifest
 * signed by `signer` for this assignment number, or no model. Publish it through `signer.desired()`.
 */
export function testDesired(
  signer: TestSigner,
  deviceId: string,
  version: number,
  served: ServedModel | null,
  o: { scenario?: Scenario; reason?: string; runtime?: Partial<RuntimeSettings> } = {},
): DesiredState {
  const model =
    served === null
      ? null
      : signer.signed(
          {
            modelId: 'm',
            modelVersionId: `mv-${served.key}`,
            variantId: `var-${served.key}`,
            name: served.file.name,
            version: '1',
            precision: 'fp32',
            artifactUrl: served.url,
            sha256: served.file.sha256,
            sizeBytes: served.file.bytes.length,
            inputs: served.file.inputs,
          },
          deviceId,
          version,
        );
  return {
    schema: 1,
    deviceId,
    assignmentVersion: version,
    issuedAt: new Date().toISOString(),
    scenario: o.scenario ?? 'financial_trading',
    reason: o.reason ?? 'integration test',
    model,
    runtime: { targetRateHz: 50, windowSeconds: 1, intraOpThreads: 1, ...o.runtime },
  };
}

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
  await clearRetained(probe, deviceId);
  await probe.close();
}
