import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REFERENCE_BENCHMARK, referenceBenchmarkModel } from '@edge-fleet/onnx-builder';
import { type DeviceBenchmark, DeviceBenchmarkSchema } from '@edge-fleet/shared';
import { percentile } from '@edge-fleet/shared/stats';
import { readJsonFile, writeJsonAtomic } from '../storage/atomic-file.js';
import { type ChildVettingOptions, vetModelInChild } from './model-vetting.js';

/**
 * The device's run of the reference benchmark (the fixed model the variant builder also times), so
 * the control plane can scale the builder's figures by a measured speed, not a spec sheet. It runs
 * in a vetting child: the agent's event loop never blocks on it, and a crash ends only that child.
 */
export class ReferenceBenchmark {
  constructor(
    private readonly dataDir: string,
    private readonly now: () => number,
    private readonly options: Pick<ChildVettingOptions, 'childUrl' | 'timeoutMs'> = {},
  ) {}

  private get path(): string {
    return join(this.dataDir, 'benchmark.json');
  }

  /** The stored result, if it is of the current benchmark model. */
  async stored(): Promise<DeviceBenchmark | null> {
    const saved = await readJsonFile(this.path, DeviceBenchmarkSchema).catch(() => null);
    return saved?.model === REFERENCE_BENCHMARK.id ? saved : null;
  }

  /** Times the benchmark now and stores the result; throws with the reason when it could not run. */
  async run(): Promise<DeviceBenchmark> {
    const model = referenceBenchmarkModel();
    const dir = join(this.dataDir, 'benchmark');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${REFERENCE_BENCHMARK.id}.onnx`);
    await writeFile(file, model.bytes);
    // the model (a few MB) is regenerated whenever it is needed, so it does not stay on the device
    const outcome = await vetModelInChild(
      { path: file, inputs: model.inputs, intraOpThreads: 1, seed: 1 },
      { ...this.options, runs: REFERENCE_BENCHMARK.warmupRuns + REFERENCE_BENCHMARK.runs },
    ).finally(() => rm(file, { force: true }));
    if (!outcome.ok) throw new Error(`the reference benchmark did not run: ${outcome.message}`);
    // the warm-up runs are not timed, as on the builder
    const timed = outcome.report.latenciesMs.slice(REFERENCE_BENCHMARK.warmupRuns).sort((a, b) => a - b);
    const result = DeviceBenchmarkSchema.parse({
      model: REFERENCE_BENCHMARK.id,
      p50Ms: Math.max(percentile(timed, 50), 1e-6),
      runs: timed.length,
      executionProviders: outcome.report.executionProviders ?? [],
      measuredAt: new Date(this.now()).toISOString(),
    });
    await writeJsonAtomic(this.path, result);
    return result;
  }
}
