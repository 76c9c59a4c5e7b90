#!/usr/bin/env node
/**
 * `onnx-quant build <model.onnx> <inputs.json> <outDir> [--calibration <data.json>]
 * [--evaluation <data.json>] [--threads <n>] [--runs <n>] [--methods fp16,int8-dynamic,…]`
 * writes `<outDir>/<stem>.<method>.onnx` for every built variant and `<outDir>/report.json`,
 * and prints the report. Exit code 2 on bad input (with `{ "error": { code, message } }` on stderr).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { InputSpecListSchema } from '@edge-fleet/shared/schemas';
import { ALL_METHODS, buildVariants, type BuildVariantsOptions } from './build-variants.js';
import { OnnxQuantError } from './errors.js';
import { toJsonReport } from './report.js';
import type { VariantMethod } from './transforms/transform.js';

const USAGE =
  'usage: onnx-quant build <model.onnx> <inputs.json> <outDir> [--calibration <data.json>] [--evaluation <data.json>] [--threads <n>] [--runs <n>] [--methods <m1,m2>]';

interface Args {
  model: string;
  inputs: string;
  outDir: string;
  flags: Map<string, string>;
}

function parseArgs(argv: readonly string[]): Args {
  const [command, model, inputs, outDir, ...rest] = argv;
  if (command !== 'build' || !model || !inputs || !outDir || rest.length % 2 !== 0) throw new Error(USAGE);
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i] ?? '', rest[i + 1] ?? ''];
    if (!['--calibration', '--evaluation', '--threads', '--runs', '--methods'].includes(flag))
      throw new Error(`unknown flag ${flag}\n${USAGE}`);
    flags.set(flag, value);
  }
  return { model, inputs, outDir, flags };
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8')) as unknown;
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`);
  return n;
}

function methods(value: string | undefined): VariantMethod[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',');
  const bad = list.filter((m) => !(ALL_METHODS as readonly string[]).includes(m));
  if (bad.length) throw new Error(`unknown method(s) ${bad.join(', ')}; known: ${ALL_METHODS.join(', ')}`);
  return list as VariantMethod[];
}

async function options(flags: Map<string, string>): Promise<BuildVariantsOptions> {
  const cal = flags.get('--calibration');
  const ev = flags.get('--evaluation');
  const threads = positiveInt('--threads', flags.get('--threads'));
  const runs = positiveInt('--runs', flags.get('--runs'));
  const list = methods(flags.get('--methods'));
  return {
    ...(cal ? { calibrationData: await readJson(cal) } : {}),
    ...(ev ? { evaluationData: await readJson(ev) } : {}),
    ...(list ? { methods: list } : {}),
    measure: { ...(threads ? { intraOpThreads: threads } : {}), ...(runs ? { timedRuns: runs } : {}) },
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const bytes = new Uint8Array(await readFile(args.model));
  const specs = await readJson(args.inputs);
  const parsed = InputSpecListSchema.safeParse(specs);
  if (!parsed.success)
    throw new OnnxQuantError('invalid_input_spec', `${args.inputs}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const build = await buildVariants(bytes, parsed.data, await options(args.flags));
  const outDir = resolve(args.outDir);
  await mkdir(outDir, { recursive: true });
  const stem = basename(args.model).replace(/\.onnx$/i, '');
  const files: Record<string, string> = {};
  for (const v of build.variants) {
    if (!v.bytes) continue;
    files[v.method] = join(outDir, `${stem}.${v.method}.onnx`);
    await writeFile(files[v.method] ?? '', v.bytes);
  }
  const report = JSON.stringify(toJsonReport(build, files), null, 2);
  await writeFile(join(outDir, 'report.json'), `${report}\n`);
  console.log(report);
}

main().catch((err: unknown) => {
  if (err instanceof OnnxQuantError) {
    console.error(JSON.stringify({ error: { code: err.code, message: err.message } }));
    process.exitCode = 2;
    return;
  }
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
