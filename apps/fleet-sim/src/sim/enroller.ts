import { hardwarePreset, type Scenario } from '@edge-fleet/shared';
import { mapLimit } from '../core/stats.js';
import type { ControlPlaneClient } from './control-plane.client.js';
import { saveCredentialsFile, type CredentialsFile, type SimDeviceCredentials } from './credentials.file.js';
import type { DevicePlan } from './fleet-mix.js';

export interface EnrollOptions {
  client: ControlPlaneClient;
  plans: readonly DevicePlan[];
  existing: CredentialsFile | null;
  file: string;
  /**
   * Enrollments in flight. Each is a transaction on the control plane (device, profile, audit,
   * token use), so on two cores a handful in flight is enough.
   */
  concurrency: number;
  namePrefix: string;
  log: (msg: string) => void;
}

/**
 * Enrolls the devices the credentials file does not hold yet, with one bulk enrollment token per
 * scenario, and saves progress every 100 devices so an interrupted run resumes where it stopped.
 */
export async function enrollFleet(o: EnrollOptions): Promise<CredentialsFile> {
  const have = new Map((o.existing?.devices ?? []).map((d) => [d.index, d]));
  const missing = o.plans.filter((p) => !have.has(p.index));
  const state: CredentialsFile = {
    schema: 1,
    controlPlaneUrl: o.client.baseUrl,
    mqttUrl: o.existing?.mqttUrl ?? '',
    devices: [...have.values()],
  };
  if (missing.length === 0) return state;
  const byScenario = new Map<Scenario, number>();
  for (const p of missing) byScenario.set(p.scenario, (byScenario.get(p.scenario) ?? 0) + 1);
  const tokens = new Map<Scenario, string>();
  for (const [scenario, count] of byScenario) tokens.set(scenario, await o.client.createEnrollmentToken(scenario, count));
  const started = Date.now();
  let done = 0;
  let saving: Promise<void> = Promise.resolve();
  await mapLimit(missing, o.concurrency, async (p) => {
    const token = tokens.get(p.scenario);
    if (!token) throw new Error(`no enrollment token for scenario ${p.scenario}`);
    const profile = hardwarePreset(p.preset);
    const res = await o.client.enroll(token, `${o.namePrefix}-${String(p.index).padStart(6, '0')}`, profile);
    const cred: SimDeviceCredentials = {
      index: p.index,
      deviceId: res.deviceId,
      deviceSecret: res.deviceSecret,
      scenario: res.scenario,
      preset: p.preset,
      hardwareProfile: profile,
    };
    state.devices.push(cred);
    state.mqttUrl = res.mqtt.url;
    done += 1;
    if (done % 100 === 0 || done === missing.length) {
      const rate = done / Math.max(0.001, (Date.now() - started) / 1000);
      o.log(`enrolled ${done}/${missing.length} (${rate.toFixed(1)} devices/s)`);
      saving = saving.then(() => saveCredentialsFile(o.file, state));
    }
  });
  await saving;
  state.devices.sort((a, b) => a.index - b.index);
  await saveCredentialsFile(o.file, state);
  return state;
}
