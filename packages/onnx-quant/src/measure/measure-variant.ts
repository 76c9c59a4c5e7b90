/** Loads a model in onnxruntime-node and measures size, load time, latency and agreement. */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { env, type InferenceSession, type Tensor } from 'onnxruntime-node';
import type { InputSpec } from '@edge-fleet/shared/schemas';
import { percentile } from '@edge-fleet/shared/stats';
import type { Sample } from '../calibration/input-data.js';
import { compareOutputs, type Agreement, type RunOutputs } from './agreement.js';
import { createSession, runOnce, toFeeds, type SessionSettings } from './session.js';

/** The machine figures were taken on. */
export interface MachineInfo {
  cpuModel: string;
  logicalCpus: number;
  intraOpThreads: number;
  platform: string;
  arch: string;
  node: string;
  onnxruntime: string;
}

/** Options of `measureVariant`. */
export interface MeasureOptions extends SessionSettings {
  warmupRuns: number;
  timedRuns: number;
}

/** Defaults: 1 thread, 10 warm-up runs, 100 timed runs. */
export const DEFAULT_MEASURE_OPTIONS: MeasureOptions = { intraOpThreads: 1, warmupRuns: 10, timedRuns: 100 };

/** What `measureVariant` records. */
export interface Measurement {
  sizeBytes: number;
  loadMs: number;
  latencyMs: { p50: number; p95: number; p99: number; mean: number; runs: number };
  /** Against FP32 on the evaluation inputs; absent for the FP32 baseline itself. */
  agreement?: Agreement;
}

/** The reference machine. */
export function machineInfo(intraOpThreads: number): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    logicalCpus: cpus().length,
    intraOpThreads,
    platform: process.platform,
    arch: process.arch,
    node: process.version,
    onnxruntime: env.versions.node ?? env.versions.common,
  };
}

type Feeds = Record<string, Tensor>;

async function timeRuns(session: InferenceSession, feeds: readonly Feeds[], opts: MeasureOptions): Promise<number[]> {
  const pick = (i: number): Feeds => feeds[i % feeds.length] ?? {};
  for (let i = 0; i < opts.warmupRuns; i += 1) await session.run(pick(i));
  const times: number[] = [];
  for (let i = 0; i < opts.timedRuns; i += 1) {
    const t0 = performance.now();
    await session.run(pick(i));
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

/**
 * Loads `bytes`, runs every evaluation sample, then times `timedRuns` runs after warm-up.
 * Rejects with onnxruntime's own message when the model does not load or run.
 */
export async function measureVariant(
  bytes: Uint8Array,
  specs: readonly InputSpec[],
  evaluation: readonly Sample[],
  reference: readonly RunOutputs[] | undefined,
  opts: MeasureOptions = DEFAULT_MEASURE_OPTIONS,
): Promise<{ measurement: Measurement; outputs: RunOutputs[] }> {
  const t0 = performance.now();
  const session = await createSession(bytes, opts);
  const loadMs = performance.now() - t0;
  try {
    const feeds = evaluation.map((s) => toFeeds(s, specs));
    const outputs: RunOutputs[] = [];
    for (const f of feeds) outputs.push(await runOnce(session, f));
    const times = await timeRuns(session, feeds, opts);
    const mean = times.reduce((a, b) => a + b, 0) / Math.max(1, times.length);
    const measurement: Measurement = {
      sizeBytes: bytes.length,
      loadMs,
      latencyMs: { p50: percentile(times, 50), p95: percentile(times, 95), p99: percentile(times, 99), mean, runs: times.length },
      ...(reference ? { agreement: compareOutputs(reference, outputs) } : {}),
    };
    return { measurement, outputs };
  } finally {
    await session.release();
  }
}
