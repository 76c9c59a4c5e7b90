import { spawn, type ChildProcess } from 'node:child_process';

/** A real process a test started: its output tail (for failure messages) and a graceful stop. */
export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop: () => Promise<void>;
}

/** Starts `node <args>` with the test's environment on top of this one's, keeping the last 50 KB of its output. */
export function startProcess(args: string[], env: Record<string, string>, options: { cwd?: string } = {}): Proc {
  const child = spawn(process.execPath, args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  for (const s of [child.stdout, child.stderr]) s?.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-50_000)));
  return {
    child,
    output: () => out,
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
