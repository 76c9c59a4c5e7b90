import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The compiled CLI (global setup builds it). */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** A `fleet-agent` process started by a test. */
export interface CliRun {
  child: ChildProcess;
  stdout: string[];
  /** The exit code, or the signal that ended the process. */
  exited: Promise<number | string | null>;
}

/** Starts the real CLI with `args`; `env` is added to the test's environment. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const run: CliRun = { child, stdout: [], exited: new Promise((r) => child.on('exit', (code, signal) => r(signal ?? code))) };
  child.stdout?.on('data', (d: Buffer) => run.stdout.push(d.toString('utf8')));
  return run;
}

/** How the run ended, or 'still running' (then it is killed) after `ms`. */
export async function withDeadline(run: CliRun, ms: number): Promise<number | string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => (timer = setTimeout(() => r('still running'), ms)));
  const ended = await Promise.race([run.exited, late]).finally(() => clearTimeout(timer));
  if (ended === 'still running') run.child.kill('SIGKILL');
  return ended;
}

/** The run's JSON log lines so far (a line cut off by a kill is skipped). */
export function logLines(run: CliRun): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of run.stdout.join('').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // the last line of a killed process may be partial
    }
  }
  return out;
}
