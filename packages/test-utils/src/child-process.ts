import { spawn, type ChildProcess } from 'node:child_process';

/** A real process a test started: its output kept for the failure message, and a clean stop. */
export interface Proc {
  child: ChildProcess;
  /** The last `keepChars` characters it wrote to stdout and stderr together. */
  output: () => string;
  /** A position in the output, for outputSince. */
  mark: () => number;
  /** What stdout and stderr received after the mark (as far as it is still kept). */
  outputSince: (mark: number) => string;
  /** SIGTERM, then SIGKILL after `killAfterMs` if it has not exited; resolves once it has. */
  stop: () => Promise<void>;
}

export interface StartProcessOptions {
  cwd?: string;
  /** Added to (and overriding) this process's environment. */
  env?: Record<string, string>;
  keepChars?: number;
  killAfterMs?: number;
}

/** Starts `node <args>` as a child process, the way a test runs a real process of the system. */
export function startNodeProcess(args: string[], o: StartProcessOptions = {}): Proc {
  const keep = o.keepChars ?? 50_000;
  const child = spawn(process.execPath, args, {
    ...(o.cwd ? { cwd: o.cwd } : {}),
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let dropped = 0;
  for (const s of [child.stdout, child.stderr])
    s.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.length > keep) {
        dropped += out.length - keep;
        out = out.slice(-keep);
      }
    });
  return {
    child,
    output: () => out,
    mark: () => dropped + out.length,
    outputSince: (mark) => out.slice(Math.max(0, mark - dropped)),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 10_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
