/**
 * One measured codec run, alone in its process so its peak RSS is its own:
 * `node --expose-gc codec-run.child.js <module> <model.onnx>` (Linux: it reads and resets the
 * kernel's peak-RSS mark per phase). `<module>` exports `decode(bytes)` and
 * `encode(model)`. Prints one JSON line: times, memory held and peak RSS per phase, and whether
 * the re-encoded bytes equal the file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

/** What a codec module under test exports. */
export interface CodecUnderTest {
  decode(bytes: Uint8Array): unknown;
  encode(model: unknown): Uint8Array;
}

/** What one run reports. */
export interface CodecRun {
  fileBytes: number;
  decodeMs: number;
  encodeMs: number;
  /** JS heap plus ArrayBuffers held once the model is decoded, beyond the file's bytes (MiB). */
  decodedHeldMiB: number;
  /** Peak RSS during decoding above the RSS just before it (MiB). */
  decodePeakMiB: number;
  /** Peak RSS during encoding above the RSS just before it, the output included (MiB). */
  encodePeakMiB: number;
  identical: boolean;
}

const MiB = 1024 * 1024;
const held = (): number => {
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / MiB;
};

/**
 * Resets the kernel's peak-RSS mark to the current RSS (Linux >= 4.0, `clear_refs` 5) after a
 * full GC, so each phase's peak is measured from where it starts; returns that RSS in MiB.
 */
function startPhase(): number {
  (globalThis as { gc?: () => void }).gc?.();
  writeFileSync('/proc/self/clear_refs', '5');
  return process.memoryUsage().rss / MiB;
}

/** The peak RSS since `startPhase` (MiB), from `/proc/self/status`. */
function phasePeak(): number {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (kib === undefined) throw new Error('no VmHWM in /proc/self/status');
  return Number(kib) / 1024;
}

async function main(): Promise<void> {
  const [modulePath, modelPath] = process.argv.slice(2);
  if (!modulePath || !modelPath) throw new Error('usage: codec-run.child.js <module> <model.onnx>');
  const codec = (await import(pathToFileURL(modulePath).href)) as CodecUnderTest;
  // A Buffer, as readFile gives every caller in the tree.
  const bytes = await readFile(modelPath);
  const heldBefore = held();
  let rss = startPhase();
  let t = performance.now();
  const model = codec.decode(bytes);
  const decodeMs = performance.now() - t;
  const decodePeakMiB = phasePeak() - rss;
  const decodedHeldMiB = held() - heldBefore;
  rss = startPhase();
  t = performance.now();
  const out = codec.encode(model);
  const encodeMs = performance.now() - t;
  const encodePeakMiB = phasePeak() - rss;
  const run: CodecRun = {
    fileBytes: bytes.length,
    decodeMs,
    encodeMs,
    decodedHeldMiB,
    decodePeakMiB,
    encodePeakMiB,
    identical: Buffer.compare(Buffer.from(out.buffer, out.byteOffset, out.byteLength), bytes) === 0,
  };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
