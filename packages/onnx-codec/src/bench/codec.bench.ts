#!/usr/bin/env node
/**
 * `pnpm bench:codec [--mib <n>] [--runs <n>] [--old-rev <git rev>]`: decode and encode time and
 * peak memory of one large model (default 112 MiB of MatMul weights in `raw_data`), through this
 * codec and through the hand-written codec it replaced (onnx-quant's `model-decoder.ts` /
 * `model-encoder.ts` over onnx-builder's `ProtoWriter`), in one run on the same file. The old
 * sources are taken from git at `--old-rev` (default 18a8fbf, the last commit before this codec)
 * and transpiled into a temp dir. Each run is its own child process, so peak RSS is its own; the
 * codecs alternate and each figure is the median of `--runs`. A benchmark: it asserts nothing.
 */
import { execFileSync, execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { encodeModel } from '../onnx-codec.js';
import { DataType, makeNode, rawTensor, tensorValueInfo, type OnnxModel } from '../onnx-model.js';
import type { CodecRun } from './codec-run.child.js';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const WIDTH = 2048; // one [2048, 2048] float32 weight is 16 MiB

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** x[1, 2048] through a chain of MatMuls whose weights add up to about `mib` MiB. */
function largeModel(mib: number): OnnxModel {
  const layers = Math.max(1, Math.ceil(mib / 16));
  const initializers = [];
  const nodes = [];
  let seed = 1;
  for (let i = 0; i < layers; i += 1) {
    const w = new Float32Array(WIDTH * WIDTH);
    for (let j = 0; j < w.length; j += 1) {
      seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
      w[j] = seed / 2 ** 32 - 0.5;
    }
    initializers.push(rawTensor(`w${i}`, DataType.FLOAT, [WIDTH, WIDTH], new Uint8Array(w.buffer)));
    nodes.push(makeNode('MatMul', [i === 0 ? 'x' : `h${i - 1}`, `w${i}`], [i === layers - 1 ? 'y' : `h${i}`], `matmul_${i}`));
  }
  return {
    irVersion: 8,
    producerName: 'edge-fleet',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph: {
      name: 'large',
      nodes,
      initializers,
      docString: '',
      inputs: [tensorValueInfo('x', DataType.FLOAT, [1, WIDTH])],
      outputs: [tensorValueInfo('y', DataType.FLOAT, [1, WIDTH])],
      valueInfo: [],
    },
    opsets: [{ domain: '', version: 17 }],
    metadata: [],
  };
}

/** The files of the old codec at `rev`, and where each goes in the temp dir. */
const OLD_SOURCES: ReadonlyArray<[string, string]> = [
  ['packages/onnx-quant/src/model/model-decoder.ts', 'model/model-decoder.js'],
  ['packages/onnx-quant/src/model/model-encoder.ts', 'model/model-encoder.js'],
  ['packages/onnx-quant/src/model/onnx-model.ts', 'model/onnx-model.js'],
  ['packages/onnx-quant/src/proto/proto-cursor.ts', 'proto/proto-cursor.js'],
  ['packages/onnx-quant/src/errors.ts', 'errors.js'],
  ['packages/onnx-builder/src/protobuf-writer.ts', 'model/protobuf-writer.js'],
];

/** Transpiles the old codec from git into `dir`; returns the path of a module exporting decode/encode. */
async function oldCodec(rev: string, dir: string): Promise<string> {
  const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: HERE, encoding: 'utf8' }).trim();
  for (const [source, target] of OLD_SOURCES) {
    const text = execFileSync('git', ['show', `${rev}:${source}`], { cwd: root, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    // The encoder took ProtoWriter from onnx-builder's index; it is the one file it needs.
    const js = ts
      .transpileModule(text, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } })
      .outputText.replace("from '@edge-fleet/onnx-builder'", "from './protobuf-writer.js'");
    await mkdir(dirname(join(dir, target)), { recursive: true });
    await writeFile(join(dir, target), js);
  }
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  const entry = join(dir, 'old-codec.js');
  await writeFile(
    entry,
    "export { decodeModel as decode } from './model/model-decoder.js';\nexport { encodeOnnxModel as encode } from './model/model-encoder.js';\n",
  );
  return entry;
}

async function newCodec(dir: string): Promise<string> {
  const entry = join(dir, 'new-codec.mjs');
  const index = pathToFileURL(resolve(HERE, '../index.js')).href;
  await writeFile(entry, `export { decodeModel as decode, encodeModel as encode } from '${index}';\n`);
  return entry;
}

async function measure(codec: string, model: string): Promise<CodecRun> {
  const { stdout } = await run(process.execPath, ['--expose-gc', join(HERE, 'codec-run.child.js'), codec, model], {
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as CodecRun;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
};

type Metric = 'decodeMs' | 'encodeMs' | 'decodedHeldMiB' | 'decodePeakMiB' | 'encodePeakMiB';
const METRICS: ReadonlyArray<[Metric, string]> = [
  ['decodeMs', 'decode ms'],
  ['encodeMs', 'encode ms'],
  ['decodedHeldMiB', 'held after decode, MiB (heap + ArrayBuffers beyond the file)'],
  ['decodePeakMiB', 'peak RSS added while decoding, MiB'],
  ['encodePeakMiB', 'peak RSS added while encoding, MiB (output included)'],
];

async function main(): Promise<void> {
  const mib = Number(flag('--mib', '112'));
  const runs = Number(flag('--runs', '3'));
  const rev = flag('--old-rev', '18a8fbf');
  const dir = await mkdtemp(join(tmpdir(), 'codec-bench-'));
  try {
    const modelPath = join(dir, 'large.onnx');
    const bytes = encodeModel(largeModel(mib));
    await writeFile(modelPath, bytes);
    const codecs: Array<[string, string]> = [
      [`old (hand-written, git ${rev})`, await oldCodec(rev, join(dir, 'old'))],
      ['new (onnx-buf + @bufbuild/protobuf)', await newCodec(dir)],
    ];
    console.log(
      `model: ${(bytes.length / 2 ** 20).toFixed(1)} MiB (${Math.ceil(mib / 16)} MatMul weights of [2048, 2048] float32 in raw_data)`,
    );
    console.log(`Node ${process.version}; ${runs} runs per codec, alternating, each in its own process; medians\n`);
    const results = new Map<string, CodecRun[]>(codecs.map(([name]) => [name, []]));
    for (let i = 0; i < runs; i += 1) {
      for (const [name, entry] of codecs) results.get(name)?.push(await measure(entry, modelPath));
    }
    const [oldRuns = [], newRuns = []] = codecs.map(([name]) => results.get(name) ?? []);
    const rows = METRICS.map(([key, label]) => {
      const o = median(oldRuns.map((r) => r[key]));
      const n = median(newRuns.map((r) => r[key]));
      // A ratio of two figures within noise of zero says nothing.
      return [label, o.toFixed(1), n.toFixed(1), Math.abs(o) < 1 ? '–' : (n / o).toFixed(2)];
    });
    const head = ['', 'old', 'new', 'new/old'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    for (const r of [head, ...rows])
      console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
    const identical = (rs: CodecRun[]): string => (rs.every((r) => r.identical) ? 'yes' : 'NO');
    console.log(`\nre-encoded bytes identical to the file: old ${identical(oldRuns)}, new ${identical(newRuns)}`);
    console.log(
      `raw runs (decode/encode ms): old ${oldRuns.map((r) => `${r.decodeMs.toFixed(0)}/${r.encodeMs.toFixed(0)}`).join(' ')}; new ${newRuns.map((r) => `${r.decodeMs.toFixed(0)}/${r.encodeMs.toFixed(0)}`).join(' ')}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
