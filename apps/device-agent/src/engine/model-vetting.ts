import { type ChildProcess, fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { InputSpec } from '@edge-fleet/shared';
import { FromVettingSchema, type ToVetting } from './vetting.protocol.js';
import { VETTING_CRASH_ENV, type VettingSimulation } from './vetting.simulation.js';

export interface VettingRequest {
  path: string;
  inputs: readonly InputSpec[];
  intraOpThreads: number;
  seed: number;
}

export interface VettingReport {
  /** Session creation in the child. */
  loadMs: number;
  /** Every vetting run, the first (warm-up) included. */
  latenciesMs: number[];
  /** Spawn to verdict, as the update waited for it. */
  totalMs: number;
  /** What onnxruntime offers in the child (absent where the child did not say). */
  executionProviders?: string[];
}

export type VettingOutcome = { ok: true; report: VettingReport } | { ok: false; code: 'load_failed' | 'smoke_failed'; message: string };

/** Vets one candidate before the serving process touches it; `onStarted` fires once the child runs, with its pid. */
export type ModelVetter = (request: VettingRequest, hooks?: { onStarted?: (pid: number) => void }) => Promise<VettingOutcome>;

export interface ChildVettingOptions {
  /** Wall-clock limit from spawn to verdict (60 s). */
  timeoutMs?: number;
  /** The child's V8 heap limit, --max-old-space-size (512 MB). */
  maxOldSpaceMb?: number;
  /** Runs after the load, all checked for finite outputs (3). */
  runs?: number;
  /** The compiled child entry. */
  childUrl?: URL;
  /** Tests only: make the child misbehave after it loaded the model (see VettingSimulation). */
  simulate?: VettingSimulation;
}

export const VETTING_DEFAULTS = { timeoutMs: 60_000, maxOldSpaceMb: 512, runs: 3 } as const;

/** The compiled child; under vitest this module runs from src, so point at the build output. */
export function defaultVettingChildUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/engine/vetting.child.js', here) : new URL('./vetting.child.js', here);
}

type Stage = { stage: 'spawned' } | { stage: 'scanned' } | { stage: 'loaded' } | { stage: 'run'; run: number };

function where(s: Stage): string {
  switch (s.stage) {
    case 'spawned':
      return 'before it had read the model';
    case 'scanned':
      return 'while loading the model';
    case 'loaded':
      return 'right after loading the model';
    case 'run':
      return `during vetting run ${s.run}`;
  }
}

/**
 * Loads and runs a candidate in a short-lived child process (RELIABILITY rows 4 and 10): a model
 * that crashes onnxruntime natively, exhausts the child's heap or hangs kills or stalls only that
 * child, and the update fails with `load_failed`; the agent process goes on serving. Never throws.
 */
export function vetModelInChild(
  request: VettingRequest,
  options: ChildVettingOptions = {},
  hooks: { onStarted?: (pid: number) => void } = {},
): Promise<VettingOutcome> {
  const timeoutMs = options.timeoutMs ?? VETTING_DEFAULTS.timeoutMs;
  const started = performance.now();
  return new Promise<VettingOutcome>((resolve) => {
    let stage: Stage = { stage: 'spawned' };
    let verdict: VettingOutcome | null = null;
    let timedOut = false;
    let settled = false;
    const stderr: string[] = [];
    const env: NodeJS.ProcessEnv = { ...process.env };
    // only the programmatic test option reaches the child, never the agent's own environment
    delete env[VETTING_CRASH_ENV];
    if (options.simulate !== undefined) env[VETTING_CRASH_ENV] = options.simulate;
    const finish = (outcome: VettingOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const fail = (message: string): void => finish({ ok: false, code: 'load_failed', message });
    let child: ChildProcess | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child?.kill('SIGKILL');
    }, timeoutMs);

    try {
      child = fork(fileURLToPath(options.childUrl ?? defaultVettingChildUrl()), [], {
        execArgv: [`--max-old-space-size=${options.maxOldSpaceMb ?? VETTING_DEFAULTS.maxOldSpaceMb}`],
        env,
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'json',
      });
    } catch (err) {
      fail(`the vetting process could not be started: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const proc: ChildProcess = child;
    proc.stderr?.on('data', (d: Buffer) => {
      stderr.push(d.toString('utf8'));
      if (stderr.length > 20) stderr.splice(0, stderr.length - 20);
    });
    proc.once('spawn', () => hooks.onStarted?.(proc.pid ?? -1));
    proc.on('error', (err) => {
      // spawn failure, or the IPC channel broke; the exit event (if any) decides otherwise
      if (proc.pid === undefined) fail(`the vetting process could not be started: ${err.message}`);
    });
    proc.on('message', (raw: unknown) => {
      // whatever the child sends, nothing here may throw: an exception in this handler would end the agent
      let parsed;
      try {
        parsed = FromVettingSchema.safeParse(raw);
      } catch {
        return;
      }
      if (!parsed.success || verdict !== null) return;
      const msg = parsed.data;
      switch (msg.type) {
        case 'stage':
          stage = msg.stage === 'run' ? { stage: 'run', run: msg.run ?? 0 } : { stage: msg.stage };
          return;
        case 'passed':
          verdict = {
            ok: true,
            report: {
              loadMs: msg.loadMs,
              latenciesMs: msg.latenciesMs,
              totalMs: 0,
              ...(msg.executionProviders ? { executionProviders: msg.executionProviders } : {}),
            },
          };
          return;
        case 'failed':
          verdict = { ok: false, code: msg.phase === 'load' ? 'load_failed' : 'smoke_failed', message: msg.message };
          return;
      }
    });
    // 'close', not 'exit': it comes after the IPC channel and stderr are drained, so no verdict is still in flight
    proc.on('close', (code, signal) => {
      const hint = stderrHint(stderr.join(''));
      const detail = hint === '' ? '' : ` (${hint})`;
      if (timedOut) return fail(`vetting timed out after ${formatSeconds(timeoutMs)} s ${where(stage)}; the vetting process was killed`);
      if (signal !== null) return fail(`the model crashed the runtime in the vetting process (signal ${signal}) ${where(stage)}${detail}`);
      if (code !== 0) return fail(`the vetting process exited with code ${code} ${where(stage)}${detail}`);
      if (verdict === null) return fail(`the vetting process ended without a verdict ${where(stage)}`);
      if (verdict.ok) verdict.report.totalMs = performance.now() - started;
      finish(verdict);
    });
    const msg: ToVetting = {
      type: 'vet',
      path: request.path,
      inputs: [...request.inputs],
      intraOpThreads: request.intraOpThreads,
      seed: request.seed,
      runs: options.runs ?? VETTING_DEFAULTS.runs,
    };
    // a child that died before reading the request is reported by the exit handler
    proc.send(msg, (err) => void err);
  });
}

export function createChildVetter(options: ChildVettingOptions = {}): ModelVetter {
  return (request, hooks) => vetModelInChild(request, options, hooks);
}

function formatSeconds(ms: number): string {
  return Number((ms / 1000).toFixed(3)).toString();
}

/** The telling stderr line of a dead child (a V8 or onnxruntime fatal message, else the last one), shortened. */
function stderrHint(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const telling = lines.find((l) => /fatal|out of memory|terminate called|what\(\)|error/i.test(l));
  return (telling ?? lines.at(-1) ?? '').slice(0, 300);
}
