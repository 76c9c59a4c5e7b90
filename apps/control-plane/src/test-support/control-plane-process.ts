import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built control plane (`pnpm --filter @edge-fleet/control-plane run build`). */
export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');

/** Everything a process writes is kept up to this much (the tail when more). */
const KEPT_OUTPUT = 4 * 1024 * 1024;

export interface Proc {
  child: ChildProcess;
  /** The last 50,000 characters of stdout and stderr, for failure messages. */
  output: () => string;
  /** A position in the output, for outputSince. */
  mark: () => number;
  /** What stdout and stderr received after the mark. */
  outputSince: (mark: number) => string;
  /** SIGTERM, SIGKILL 10 s later if it is still running; resolves once it has exited. */
  stop: () => Promise<void>;
}

/** Starts an entry point of the built control plane (dist/<entry>.js) as a real process with `env` added. */
export function startControlPlaneProcess(entry: 'main' | 'api' | 'worker', env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [path.join(DIST, `${entry}.js`)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let dropped = 0;
  for (const s of [child.stdout, child.stderr]) {
    s.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.length > KEPT_OUTPUT) {
        dropped += out.length - KEPT_OUTPUT;
        out = out.slice(-KEPT_OUTPUT);
      }
    });
  }
  return {
    child,
    output: () => out.slice(-50_000),
    mark: () => dropped + out.length,
    outputSince: (mark) => out.slice(Math.max(0, mark - dropped)),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
