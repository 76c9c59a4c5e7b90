#!/usr/bin/env node
/**
 * `node dist/bench/variants.js [--threads <n>] [--runs <n>] [--only <name,…>]`: builds every
 * variant of each fixture model and prints, per model, size and p50/p99 latency ratios to FP32
 * and agreement. A benchmark, not a test: it asserts nothing, it reports what this CPU does.
 */
import { buildVariants, type VariantBuild } from '../build-variants.js';
import { machineInfo } from '../measure/measure-variant.js';
import { fixtureModels } from './bench-models.js';

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
  return [`## ${name} — ${description}`, line(head), ...rows.map(line), ...notes].join('\n');
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
  console.log(`latency: ${runs} timed runs after 20 warm-up runs; agreement on 200 held-out generated samples\n`);
  const models = Object.entries(fixtureModels());
  // One throwaway build first: the first sessions of a process pay JIT and allocator warm-up.
  const [, first] = models[0] ?? [];
  if (first) await buildVariants(first.bytes, first.inputs, { measure: { intraOpThreads: threads, timedRuns: 50 } });
  for (const [name, model] of models) {
    if (only.length && !only.includes(name)) continue;
    const build = await buildVariants(model.bytes, model.inputs, {
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
