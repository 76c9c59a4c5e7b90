#!/usr/bin/env node
/**
 * `node dist/bench/variants.js [--threads <n>] [--runs <n>] [--only <name,…>]`: builds every
 * variant of each fixture model and of each published corpus model, and prints, per model, size
 * and p50/p99 latency ratios to FP32, agreement, and the opset upgrade when there was one.
 * A benchmark, not a test: it asserts nothing, it reports what this CPU does.
 */
import type { InputSpec } from '@edge-fleet/shared/schemas';
import { buildVariants, type BuildVariantsOptions, type VariantBuild } from '../build-variants.js';
import { machineInfo } from '../measure/measure-variant.js';
import { fixtureModels } from './bench-models.js';
import { CORPUS_MODELS, readCorpusModel } from './corpus-models.js';

/** One model to benchmark, with the input data options it needs. */
interface BenchModel {
  bytes: Uint8Array;
  inputs: InputSpec[];
  description: string;
  data?: Pick<BuildVariantsOptions, 'calibrationData' | 'evaluationData'>;
}

async function benchModels(): Promise<Array<[string, BenchModel]>> {
  const corpus = await Promise.all(
    Object.entries(CORPUS_MODELS).map(async ([name, c]): Promise<[string, BenchModel]> => {
      const description = `${c.description}; ${c.exporter}, opset ${c.opset}, npm ${c.packageName}`;
      const data = c.data ? { calibrationData: c.data(128, 1), evaluationData: c.data(200, 2) } : undefined;
      return [name, { bytes: await readCorpusModel(c), inputs: c.inputs, description, ...(data ? { data } : {}) }];
    }),
  );
  return [...Object.entries(fixtureModels()), ...corpus];
}

function upgradeLine(build: VariantBuild): string[] {
  const u = build.upgrade;
  if (!u) return [];
  const rewritten = Object.entries(u.rewritten)
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
  return [
    `  upgraded opset ${u.fromOpset} → ${u.toOpset} (${rewritten || 'no node rewritten'}); max |upgraded − original| ${u.maxAbsError.toExponential(1)} on ${u.samples} held-out samples (bound ${u.bound.toExponential(1)})`,
  ];
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const fmt = (x: number | undefined, digits = 2): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));

function table(name: string, description: string, build: VariantBuild): string {
  const base = build.fp32.measured;
  const head = ['variant', 'status', 'size', 'size×', 'p50 ms', 'p50×', 'p99×', 'cosine', 'top-1', 'max|err|'];
  const rows = [
    ['fp32', 'ready', `${(build.fp32.sizeBytes / 1024).toFixed(0)} KiB`, '1.00', fmt(base.latencyMs.p50, 3), '1.00', '1.00', '1', '1', '0'],
    ...build.variants.map((v) => {
      const m = v.measured;
      const a = m?.agreement;
      return [
        v.method,
        v.status,
        v.sizeBytes === undefined ? '–' : `${(v.sizeBytes / 1024).toFixed(0)} KiB`,
        fmt(m?.sizeRatio),
        fmt(m?.latencyMs.p50, 3),
        fmt(m?.latencyRatio.p50),
        fmt(m?.latencyRatio.p99),
        fmt(a?.cosine, 5),
        a?.top1 === undefined ? '–' : `${(a.top1 * 100).toFixed(1)} %`,
        a ? a.maxAbsError.toExponential(1) : '–',
      ];
    }),
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  const notes = build.variants.filter((v) => v.reason).map((v) => `  ${v.method}: ${v.reason ?? ''}`);
  return [`## ${name} — ${description}`, line(head), ...rows.map(line), ...upgradeLine(build), ...notes].join('\n');
}

async function main(): Promise<void> {
  const threads = Number(flag('--threads', '1'));
  const runs = Number(flag('--runs', '200'));
  const only = flag('--only', '')
    .split(',')
    .filter((s) => s !== '');
  const m = machineInfo(threads);
  console.log(
    `CPU: ${m.cpuModel} (${m.logicalCpus} logical CPUs), intra-op threads: ${threads}, onnxruntime-node ${m.onnxruntime}, Node ${m.node}`,
  );
  console.log(
    `latency: ${runs} timed runs after 20 warm-up runs; agreement on 200 held-out samples (generated from the input spec; synthetic text crops for the OCR models)\n`,
  );
  const models = await benchModels();
  // One throwaway build first: the first sessions of a process pay JIT and allocator warm-up.
  const [, first] = models[0] ?? [];
  if (first) await buildVariants(first.bytes, first.inputs, { measure: { intraOpThreads: threads, timedRuns: 50 } });
  for (const [name, model] of models) {
    if (only.length && !only.includes(name)) continue;
    const build = await buildVariants(model.bytes, model.inputs, {
      ...model.data,
      evaluationSamples: 200,
      measure: { intraOpThreads: threads, warmupRuns: 20, timedRuns: runs },
    });
    console.log(`${table(name, model.description, build)}\n`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
