import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentPhase, DesiredModel, DesiredState } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactDownloader } from '../artifact/artifact.downloader.js';
import { systemClock } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import type { EngineOptions, InferenceEngine } from '../engine/inference.engine.js';
import { AgentStateStore } from '../storage/agent-state.store.js';
import { ArtifactServer } from '../test-support/artifact.server.js';
import { sha256 } from '../test-support/models.js';
import { Reconciler } from './reconciler.js';
import { StepExecutor } from './step.executor.js';
import { UNCHECKED_MANIFEST } from '../test-support/test-signer.js';

/** Loads nothing real: this suite is about ordering and persistence, the engine has its own tests. */
class StubEngine implements InferenceEngine {
  static loaded: string[] = [];
  static disposed = 0;
  constructor(readonly options: EngineOptions) {}
  load(path: string): Promise<void> {
    StubEngine.loaded.push(path);
    return new Promise((r) => setTimeout(r, 20));
  }
  run(): Promise<{ ok: boolean; latencyMs: number }> {
    return Promise.resolve({ ok: true, latencyMs: 1 });
  }
  dispose(): Promise<void> {
    StubEngine.disposed++;
    return Promise.resolve();
  }
}

const server = new ArtifactServer();
const blobs = {
  a: new TextEncoder().encode('model A bytes'),
  b: new TextEncoder().encode('model B bytes!'),
  c: new TextEncoder().encode('model C bytes!!'),
};

function desired(version: number, which: keyof typeof blobs): DesiredState {
  const bytes = blobs[which];
  const model: DesiredModel = {
    modelId: 'm',
    modelVersionId: `mv-${which}`,
    variantId: `v-${which}`,
    name: 'n',
    version: '1',
    precision: 'fp32',
    artifactUrl: server.url(`/${which}`),
    sha256: sha256(bytes),
    sizeBytes: bytes.length,
    inputs: [{ name: 'x', dtype: 'float32', shape: [1] }],
    manifest: UNCHECKED_MANIFEST,
  };
  return {
    schema: 1,
    deviceId: '00000000-0000-4000-8000-000000000009',
    assignmentVersion: version,
    issuedAt: new Date().toISOString(),
    scenario: 'data_analysis_agent',
    reason: '',
    model,
    runtime: { targetRateHz: 1, windowSeconds: 5, intraOpThreads: 1 },
  };
}

async function build(dataDir: string) {
  const store = new AgentStateStore(dataDir);
  const phases: AgentPhase[] = [];
  const active: Array<string | null> = [];
  const executor = new StepExecutor(
    {
      downloader: new ArtifactDownloader({ modelsDir: join(dataDir, 'models'), username: 'u', password: 'p' }),
      createEngine: (o) => new StubEngine(o),
      vetModel: () => Promise.resolve({ ok: true, report: { loadMs: 0, latenciesMs: [], totalMs: 0 } }),
      store,
      clock: systemClock,
      logger: silentLogger,
      seed: 1,
      verifyManifest: () => undefined, // manifest checks are covered in agent.int.spec and manifest.verifier.spec
      onEngine: (_e, m) => active.push(m?.variantId ?? null),
      onRuntime: () => undefined,
      onChange: () => undefined,
    },
    await store.load(),
  );
  await executor.restore();
  const reconciler = new Reconciler({ executor, clock: systemClock, logger: silentLogger, onPhase: (p) => phases.push(p) });
  return { executor, reconciler, phases, active, store };
}

beforeAll(async () => {
  server.add('/a', blobs.a);
  server.add('/b', blobs.b);
  server.add('/c', blobs.c);
  await server.start();
});

afterAll(async () => {
  await server.stop();
});

describe('Reconciler with the real executor', () => {
  it('walks the phases and persists the active model and watermark', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rec-'));
    const { reconciler, phases, active, store } = await build(dir);
    reconciler.setTarget(desired(1, 'a'));
    await reconciler.idle();
    expect(phases).toEqual(['downloading', 'verifying', 'loading', 'running']);
    expect(active).toEqual(['v-a']);
    const saved = await store.load();
    expect(saved.watermark).toBe(1);
    expect(saved.active?.model.variantId).toBe('v-a');
  });

  it('issue 10 item 4: a replayed older state cannot pull back an update still in progress', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rec-'));
    const { reconciler, active, store } = await build(dir);
    reconciler.setTarget(desired(1, 'a'));
    await reconciler.idle();
    expect(reconciler.setTarget(desired(3, 'b'))).toBe(true);
    // the watermark is still 1 while 3 downloads: a genuine but older 2 must not become the target
    expect(reconciler.setTarget(desired(2, 'c'))).toBe(false);
    await reconciler.idle();
    expect(active).toEqual(['v-a', 'v-b']);
    expect((await store.load()).watermark).toBe(3);
  });

  it('serialises: a newer desired state arriving mid-update wins once the step in progress ends', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rec-'));
    const { reconciler, active, executor } = await build(dir);
    reconciler.setTarget(desired(1, 'a'));
    await new Promise((r) => setTimeout(r, 5));
    reconciler.setTarget(desired(2, 'b'));
    await reconciler.idle();
    expect(active.at(-1)).toBe('v-b');
    expect(executor.state.watermark).toBe(2);
  });

  it('keeps only the active and the previous model on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rec-'));
    const { reconciler } = await build(dir);
    for (const [v, which] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ] as const) {
      reconciler.setTarget(desired(v, which));
      await reconciler.idle();
    }
    const files = (await readdir(join(dir, 'models'))).sort();
    expect(files).toEqual([`${sha256(blobs.b)}.onnx`, `${sha256(blobs.c)}.onnx`].sort());
  });

  it('refuses an older version after a restart (watermark is persisted)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rec-'));
    const first = await build(dir);
    first.reconciler.setTarget(desired(7, 'b'));
    await first.reconciler.idle();
    await first.executor.close();
    const loadsBefore = StubEngine.loaded.length;

    const second = await build(dir);
    expect(StubEngine.loaded.length).toBe(loadsBefore + 1); // restored from disk, no download
    expect(second.reconciler.setTarget(desired(6, 'a'))).toBe(false);
    await second.reconciler.idle();
    expect(second.executor.snapshot().active?.model.variantId).toBe('v-b');
    expect(second.reconciler.setTarget(desired(7, 'b'))).toBe(true);
  });

  it('re-hashes at start: a damaged active file falls back to the previous model, never to none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rec-'));
    const first = await build(dir);
    for (const [v, which] of [
      [1, 'a'],
      [2, 'b'],
    ] as const) {
      first.reconciler.setTarget(desired(v, which));
      await first.reconciler.idle();
    }
    await first.executor.close();
    await writeFile(join(dir, 'models', `${sha256(blobs.b)}.onnx`), 'bit rot');

    const second = await build(dir);
    expect(second.executor.snapshot().active?.model.variantId).toBe('v-a');
    expect((await second.store.load()).active?.model.variantId).toBe('v-a');
    expect(await readdir(join(dir, 'models'))).toEqual([`${sha256(blobs.a)}.onnx`]);
  });

  it('keeps a partial download across a restart so it can be resumed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rec-'));
    await mkdir(join(dir, 'models'), { recursive: true });
    const partial = `.tmp-${sha256(blobs.c)}`;
    await writeFile(join(dir, 'models', partial), blobs.c.subarray(0, 5));
    await build(dir);
    expect(await readdir(join(dir, 'models'))).toEqual([partial]);
  });
});
