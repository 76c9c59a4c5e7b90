import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildMlpClassifier, type GeneratedModel } from '@edge-fleet/onnx-builder';
import type { Scenario } from '@edge-fleet/shared';
import { startNodeProcess, waitFor, type Proc } from '@edge-fleet/test-utils';
import { z } from 'zod';
import { REPO_ROOT, startControlPlaneProcess, type ControlPlaneProcess } from '../bench/support/control-plane.process.js';
import { assignScenario, uploadModel } from '../bench/support/operator-api.js';
import { ControlPlaneClient } from '../sim/control-plane.client.js';

/** What the real-agent gate runs set up: how many agents, how fast they probe, the model's size. */
export interface RealFleetOptions {
  /** Real `fleet-agent` processes, all on one hardware preset (one hardware class). */
  agents: number;
  /** The agents' probe rate (the control plane's DEVICE_RATE_HZ), so a p99's 1,000 runs come quickly. */
  rateHz: number;
  /** Telemetry window length (TELEMETRY_WINDOW_SECONDS): the gates want 3 windows a device. */
  windowSeconds: number;
  /** The scenario (its default tier policy applies unchanged) and the agents' hardware preset. */
  scenario: Scenario;
  profile: string;
  /**
   * The tier's p99 target, set on the scenario's policy (null: the policy's own, trading's 10 ms).
   * At load 20–25 on a 2-core box even a 0.15 ms model's p99 is 5–65 ms, over 10 ms: the latency
   * gate and the agents' watchdog then stop every version, rightly (at load 7–12 it was 1.6–5 ms).
   */
  latencyTargetMs: number | null;
  /** The MLP: inputs [batch, inputSize] → hidden → 10 classes; the slow model has `hidden × slowHiddenFactor`. */
  model: { inputSize: number; hidden: number; batch: number; seed: number };
  slowHiddenFactor: number;
  log: (line: string) => void;
}

export const DEFAULT_REAL_FLEET: Omit<RealFleetOptions, 'log'> = {
  agents: 6,
  rateHz: 100,
  windowSeconds: 1,
  scenario: 'financial_trading',
  profile: 'edge-npu-trading',
  latencyTargetMs: null,
  // ~0.17 ms a run on one EPYC core (256×1,024 + 1,024×10 multiply-adds per row, 16 rows);
  // the slow one has 3.5× the hidden units: ~3× the run time (the bench prints what it measured)
  model: { inputSize: 256, hidden: 1_024, batch: 16, seed: 17 },
  slowHiddenFactor: 3.5,
};

const DeviceListSchema = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      hardwareClass: z.string(),
      reported: z.object({ phase: z.string(), activeVariantId: z.string().nullable() }).nullable(),
    }),
  ),
});
type DeviceRow = z.infer<typeof DeviceListSchema>['items'][number];

/** A model version as uploaded: its id and its FP32 variant (variant builds are off). */
export interface Uploaded {
  versionId: string;
  variantId: string;
  version: string;
}

/**
 * A real fleet for judging the rollout gates: the control plane as its own process (API, worker,
 * ingest and embedded broker in one, as `pnpm start` runs it; a fresh database and queue prefix),
 * and `agents` real device agents (onnxruntime-node, own processes and data directories) enrolled
 * on one hardware class, running the base model of `scenario` at the default tier policy.
 */
export class RealFleet {
  readonly agents: Proc[] = [];
  private releases = 0;
  /** The version the fleet was enrolled on. */
  base: Uploaded = { versionId: '', variantId: '', version: '' };

  private constructor(
    readonly o: RealFleetOptions,
    readonly cp: ControlPlaneProcess,
    readonly api: ControlPlaneClient,
    private readonly dataDir: string,
  ) {}

  static async start(o: RealFleetOptions): Promise<RealFleet> {
    const cp = await startControlPlaneProcess({
      dbPrefix: 'ef_gates_real',
      env: {
        VARIANT_BUILD: 'off',
        DEVICE_RATE_HZ: String(o.rateHz),
        TELEMETRY_WINDOW_SECONDS: String(o.windowSeconds),
        ROLLOUT_SWEEP_MS: '1000',
      },
    });
    const dataDir = await mkdtemp(path.join(tmpdir(), 'ef-gates-real-'));
    const fleet = new RealFleet(o, cp, new ControlPlaneClient(cp.url, cp.operatorToken), dataDir);
    try {
      await fleet.enrollAgents();
    } catch (e) {
      await fleet.stop();
      throw e;
    }
    return fleet;
  }

  /** The base model re-encoded with a new doc string: the same graph and weights, other bytes and sha256. */
  identical(): GeneratedModel {
    return buildMlpClassifier({ ...this.o.model, docString: `gate run release ${++this.releases}` });
  }

  /** The same inputs and outputs with `slowHiddenFactor` × the hidden units: that much more compute per run. */
  slow(): GeneratedModel {
    const hidden = Math.round(this.o.model.hidden * this.o.slowHiddenFactor);
    return buildMlpClassifier({ ...this.o.model, hidden, docString: `gate run slow release ${++this.releases}` });
  }

  async upload(m: GeneratedModel, version: string): Promise<Uploaded> {
    const v = await uploadModel(this.cp.url, this.cp.operatorToken, 'gate-probe', version, m);
    const fp32 = v.variants.find((x) => x.precision === 'fp32');
    if (!fp32) throw new Error(`model version ${version} has no FP32 variant`);
    return { versionId: v.id, variantId: fp32.id, version };
  }

  /** Gives the whole scenario `version` (the operator's PUT /scenarios/{s}/model). */
  async assign(version: Uploaded): Promise<void> {
    await assignScenario(this.cp.url, this.cp.operatorToken, this.o.scenario, version.versionId);
  }

  private async setTarget(ms: number): Promise<void> {
    const policies = z
      .object({ items: z.array(z.looseObject({ scenario: z.string() })) })
      .parse(await this.api.getJson('/api/v1/policies'));
    const policy = policies.items.find((p) => p.scenario === this.o.scenario);
    if (!policy) throw new Error(`no policy for ${this.o.scenario}`);
    const { scenario: _s, model: _m, ...settings } = policy;
    await this.api.request('PUT', `/api/v1/policies/${this.o.scenario}`, { ...settings, latencyTargetMs: ms }, true);
  }

  async devices(): Promise<DeviceRow[]> {
    return DeviceListSchema.parse(await this.api.getJson(`/api/v1/devices?scenario=${this.o.scenario}`)).items;
  }

  /** Waits until every agent reports running `variantId`. */
  async allRunning(variantId: string, timeoutMs = 180_000): Promise<DeviceRow[]> {
    let last: DeviceRow[] = [];
    let error = '';
    try {
      return await waitFor(
        async () => {
          last = await this.devices().catch((e: unknown) => {
            error = e instanceof Error ? e.message : String(e);
            throw e;
          });
          const ok =
            last.length === this.o.agents && last.every((d) => d.reported?.phase === 'running' && d.reported.activeVariantId === variantId);
          return ok ? last : null;
        },
        timeoutMs,
        `every agent running ${variantId}`,
        { intervalMs: 500, retryErrors: true },
      );
    } catch (e) {
      const seen = last.map((d) => `${d.name}: ${d.reported?.phase ?? 'no report'} ${d.reported?.activeVariantId ?? ''}`).join('; ');
      // the agents log at info: their warnings and errors say why one did not follow
      const notable = (out: string): string =>
        out
          .split('\n')
          .filter((l) => /"level":"(warn|error)"/.test(l))
          .slice(-4)
          .map((l) => l.slice(0, 600))
          .join('\n');
      const logs = this.agents.map((a, i) => `--- agent ${i} ---\n${notable(a.output())}`).join('\n');
      const exits = this.agents.map((a) => a.child.exitCode ?? 'running').join(', ');
      throw new Error(`${e instanceof Error ? e.message : String(e)}; devices: ${seen} ${error}; agents: ${exits}\n${logs}`, { cause: e });
    }
  }

  private async enrollAgents(): Promise<void> {
    if (this.o.latencyTargetMs !== null) await this.setTarget(this.o.latencyTargetMs);
    const base = await this.upload(this.identical(), '1');
    this.base = base;
    await this.assign(base);
    const token = await this.api.createEnrollmentToken(this.o.scenario, this.o.agents);
    for (let i = 0; i < this.o.agents; i++) {
      const args = ['apps/device-agent/dist/cli.js', '--url', this.cp.url, '--token', token, '--profile', this.o.profile];
      args.push('--name', `gate-${i}`, '--data-dir', path.join(this.dataDir, `agent-${i}`), '--serve-port', 'off', '--log-level', 'info');
      this.agents.push(startNodeProcess(args, { cwd: REPO_ROOT, keepChars: 400_000 }));
    }
    const running = await this.allRunning(base.variantId);
    const classes = new Set(running.map((d) => d.hardwareClass));
    if (classes.size !== 1) throw new Error(`the agents should share one hardware class, got ${[...classes].join(', ')}`);
    this.o.log(`fleet: ${running.length} agents on ${[...classes].join('')}, running version 1`);
  }

  /** Where each device's agent placed its current model (inline or worker, with the calibration), from its log. */
  placements(): Map<string, string> {
    const out = new Map<string, string>();
    const Loaded = z.object({ msg: z.literal('model loaded'), deviceId: z.string(), placement: z.string().nullable() });
    for (const a of this.agents)
      for (const line of a.output().split('\n')) {
        if (!line.includes('"model loaded"')) continue;
        const r = Loaded.safeParse(safeJson(line));
        if (r.success) out.set(r.data.deviceId, r.data.placement ?? 'unknown');
      }
    return out;
  }

  async stop(): Promise<void> {
    for (const a of this.agents) await a.stop();
    await this.cp.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}
