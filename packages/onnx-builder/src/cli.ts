#!/usr/bin/env node
import { resolve } from 'node:path';
import { writeModels } from './model-catalog.js';

const USAGE = 'usage: onnx-gen <outDir> [--seed <n>]';

function parseArgs(argv: readonly string[]): { outDir: string; seed: number } {
  const [outDir, flag, value] = argv;
  if (outDir === undefined || outDir.startsWith('-')) throw new Error(USAGE);
  if (flag === undefined) return { outDir, seed: 1 };
  const seed = Number(value);
  if (flag !== '--seed' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(USAGE);
  return { outDir, seed };
}

async function main(): Promise<void> {
  const { outDir, seed } = parseArgs(process.argv.slice(2));
  const written = await writeModels(resolve(outDir), seed);
  for (const m of written) {
    console.log(`${m.name.padEnd(12)} ${String(m.sizeBytes).padStart(8)} B  ${m.sha256.slice(0, 12)}  ${m.description}`);
  }
  console.log(`wrote ${written.length} models to ${resolve(outDir)}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
