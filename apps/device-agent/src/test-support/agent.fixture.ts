import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DesiredModel,
  type DesiredState,
  hardwarePreset,
  type HardwarePresetName,
  type ReportedState,
  ReportedStateSchema,
  type RuntimeSettings,
  type Scenario,
  TelemetryWindowSchema,
  topics,
} from '@edge-fleet/shared';
import { type AgentOptions, DeviceAgent } from '../agent.js';
import { silentLogger } from '../core/logger.js';
import { saveCredentials, type StoredCredentials } from '../storage/credentials.store.js';
import type { ModelFile, ModelName } from './models.js';
import { BROKER_URL, MqttProbe, provisionTestDevice, type Received } from './mqtt.probe.js';
import { type ServedModel, ServedModels } from './served-models.js';
import { TestSigner } from './test-signer.js';

export type { ServedModel } from './served-models.js';

/** Credentials as enrollment would leave them, on the test broker, trusting `rootPublicKey`. */
export function testCredentials(
  deviceId: string,
  rootPublicKey: string | TestSigner,
  scenario: Scenario = 'financial_trading',
  preset: HardwarePresetName = 'edge-npu-trading',
  secretChar = 's',
): StoredCredentials {
  return {
    schema: 1,
    deviceId,
    deviceSecret: secretChar.repeat(40),
    scenario,
    mqtt: { url: BROKER_URL, username: deviceId, clientId: deviceId },
    rootPublicKey: typeof rootPublicKey === 'string' ? rootPublicKey : rootPublicKey.rootPublicKey,
    controlPlaneUrl: 'http://127.0.0.1:9',
    enrolledAt: new Date().toISOString(),
    hardwareProfile: hardwarePreset(preset),
    profileLabel: preset,
  };
}

/** Saves `creds` in `dataDir` and lets the device onto the test broker: what enrollment leaves behind. */
export async function installTestCredentials(dataDir: string, creds: StoredCredentials): Promise<void> {
  await saveCredentials(dataDir, creds);
  await provisionTestDevice(creds.deviceId, creds.deviceSecret);
}

/** Clears what a test left retained for its device on the shared broker, then disconnects the probe. */
async function clearRetainedAndClose(probe: MqttProbe, deviceId: string): Promise<void> {
  await probe.publish(topics.desired(deviceId), null, true);
  await probe.publish(topics.status(deviceId), null, true);
  await probe.close();
}

export interface TestDesiredOptions {
  scenario?: Scenario;
  reason?: string;
  runtime?: Partial<RuntimeSettings>;
  /** Replaces fields of the model before it is signed (names, or bytes that are not the served ones). */
  model?: Partial<Omit<DesiredModel, 'manifest'>>;
  /** Signs the manifest with another signer (a forger) or with another expiry. */
  signedBy?: TestSigner;
  manifest?: { expiresAt?: string };
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
  o: TestDesiredOptions = {},
): DesiredState {
  const model =
    served === null
      ? null
      : (o.signedBy ?? signer).signed(
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
            ...o.model,
          },
          deviceId,
          version,
          o.manifest,
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

export interface AgentFixtureOptions<K extends string> {
  /** Prefix of the device's data directory under the temp dir (`agent-int-` …). */
  dataDirPrefix: string;
  /** The models served to the device, by key (`/a/<key>.onnx`, variant `var-<key>`). */
  models: Readonly<Record<K, ModelName>>;
  scenario?: Scenario;
  preset?: HardwarePresetName;
  /** Fills the device secret (40 of it): tests on the shared broker tell their devices apart by it too. */
  secretChar?: string;
  /** The control plane's keys: devices of one fleet (a cloud node and its hybrid devices) share them. */
  signer?: TestSigner;
}

/**
 * One enrolled device under test on the shared broker: its identity and signer, the models served
 * to it, a probe recording everything under its topics, and the agent that runs it. `setUp()` in
 * `beforeAll`, `tearDown()` in `afterAll`; the spec itself is left with its scenario.
 */
export class AgentFixture<K extends string> {
  readonly deviceId = randomUUID();
  readonly signer: TestSigner;
  readonly probe = new MqttProbe();
  readonly served: ServedModels<K>;
  /** Every served model file by key, once `setUp()` ran. */
  readonly models: Record<K, ModelFile>;
  /** The running agent, if any. */
  agent: DeviceAgent | null = null;
  private dir: string | null = null;
  private creds: StoredCredentials | null = null;

  constructor(private readonly o: AgentFixtureOptions<K>) {
    this.signer = o.signer ?? new TestSigner();
    this.served = new ServedModels(o.models);
    this.models = this.served.models;
  }

  get server(): ServedModels<K>['server'] {
    return this.served.server;
  }

  get dataDir(): string {
    if (this.dir === null) throw new Error('fixture not set up');
    return this.dir;
  }

  get credentials(): StoredCredentials {
    if (this.creds === null) throw new Error('fixture not set up');
    return this.creds;
  }

  /** Serves the models, enrolls the device into a fresh data directory and starts recording its topics. */
  async setUp(): Promise<void> {
    await this.served.start();
    this.dir = await mkdtemp(join(tmpdir(), this.o.dataDirPrefix));
    this.creds = testCredentials(this.deviceId, this.signer, this.o.scenario, this.o.preset, this.o.secretChar);
    await installTestCredentials(this.dir, this.creds);
    await this.probe.connect(`${topics.deviceRoot(this.deviceId)}#`);
  }

  /** Starts an agent for the device (silent, seeded, no power counters unless told) and keeps it as `agent`. */
  async startAgent(options: Partial<AgentOptions> = {}): Promise<DeviceAgent> {
    const agent = new DeviceAgent({
      dataDir: this.dataDir,
      credentials: this.credentials,
      logger: silentLogger,
      seed: 1,
      powerCounters: [],
      ...options,
    });
    this.agent = agent;
    await agent.start();
    return agent;
  }

  /** Stops the running agent (its Last Will is not sent: it says `offline` itself). */
  async stopAgent(): Promise<void> {
    const agent = this.agent;
    this.agent = null;
    await agent?.stop();
  }

  /** Stops the agent, clears what the device left retained on the broker, stops serving. */
  async tearDown(): Promise<void> {
    await this.stopAgent();
    await clearRetainedAndClose(this.probe, this.deviceId);
    await this.served.stop();
  }

  /** The desired state for `version` that runs the model served under `key` (or none), signed as the control plane does. */
  desired(version: number, key: K | null, o: TestDesiredOptions = {}): DesiredState {
    return testDesired(this.signer, this.deviceId, version, key === null ? null : this.served.served(key), o);
  }

  /** Publishes a desired state, signed as a whole and retained, as the control plane does. */
  async publishDesired(state: DesiredState): Promise<void> {
    await this.probe.publish(topics.desired(this.deviceId), this.signer.desired(state), true);
  }

  /** Matches the device's reports that satisfy `pred`. */
  reported(pred: (r: ReportedState) => boolean): (m: Received) => boolean {
    return (m) => m.topic === topics.reported(this.deviceId) && pred(ReportedStateSchema.parse(m.payload));
  }

  /** Matches a telemetry window of the device in which `variantId` ran at least one inference. */
  busyTelemetry(variantId: string): (m: Received) => boolean {
    return (m) => {
      if (m.topic !== topics.telemetry(this.deviceId)) return false;
      const t = TelemetryWindowSchema.parse(m.payload);
      return t.inferences > 0 && t.variantId === variantId;
    };
  }

  /** The first report from message `from` on (by default: from now) that satisfies `pred`, within `ms`. */
  async nextReport(pred: (r: ReportedState) => boolean, from = this.probe.messages.length, ms = 30_000): Promise<ReportedState> {
    return ReportedStateSchema.parse((await this.probe.waitFor(this.reported(pred), ms, from)).payload);
  }
}
