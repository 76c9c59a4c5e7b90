import { loadavg } from 'node:os';
import type { GeneratedModel } from '@edge-fleet/onnx-builder';
import { DEFAULT_GATE_CONFIDENCE, DEFAULT_REGRESSION_TOLERANCE } from '@edge-fleet/shared';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { z } from 'zod';
import { fmt, summarize } from '../core/stats.js';
import { DEFAULT_REAL_FLEET, RealFleet } from '../real-gates/real-fleet.js';
import { runCounts, runGateTrials, runIsCorrect, runTable, type RunRecord } from '../real-gates/real-gate-runs.js';
import { benchArgs, machineLine, out } from './support/report.js';

const Args = z.object({
  identical: z.coerce.number().int().min(0).max(100).default(5),
  slow: z.coerce.number().int().min(0).max(100).default(5),
  agents: z.coerce.number().int().min(4).max(32).default(DEFAULT_REAL_FLEET.agents),
  canary: z.coerce.number().int().min(1).max(16).default(2),
  rateHz: z.coerce.number().min(1).max(1_000).default(DEFAULT_REAL_FLEET.rateHz),
  soakSeconds: z.coerce.number().int().min(1).max(600).default(15),
  /** Hidden units of the base MLP (its run time). */
  hidden: z.coerce.number().int().min(1).max(65_536).default(DEFAULT_REAL_FLEET.model.hidden),
  /** The slow model's hidden units over the base model's. */
  slowFactor: z.coerce.number().min(1).max(100).default(DEFAULT_REAL_FLEET.slowHiddenFactor),
  /** The tier's p99 target in ms (0: the trading policy's default, 10 ms). */
  targetMs: z.coerce
    .number()
    .min(0)
    .max(10_000)
    .default(DEFAULT_REAL_FLEET.latencyTargetMs ?? 0),
});
const a = benchArgs(
  Args,
  'usage: bench:gates-real [--identical 5] [--slow 5] [--agents 6] [--canary 2] [--rate-hz 100] [--soak-seconds 15] [--target-ms 0 (policy)] [--hidden 1024] [--slow-factor 3.5]',
);
if (a.canary >= a.agents) {
  process.stderr.write('--canary must be smaller than --agents: the rest of the fleet is the baseline\n');
  process.exit(2);
}

/** session.run of one model in this process, one thread, back to back: the models' own cost, without the agent. */
async function runTime(m: GeneratedModel): Promise<{ p50: number; p99: number }> {
  const s = await InferenceSession.create(Buffer.from(m.bytes), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const spec = m.inputs[0];
  if (!spec) throw new Error('the model has no input');
  const count = spec.shape.reduce((x, y) => x * y, 1);
  const feeds = {
    [spec.name]: new Tensor(
      'float32',
      Float32Array.from({ length: count }, (_, i) => Math.sin(i)),
      spec.shape,
    ),
  };
  for (let i = 0; i < 100; i++) await s.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const t = performance.now();
    await s.run(feeds);
    times.push(performance.now() - t);
  }
  await s.release();
  const r = summarize(times);
  return { p50: r.p50, p99: r.p99 };
}

/**
 * The default gates judged on real agents (issue 17): a fleet of real `fleet-agent` processes on
 * one hardware class, and rollouts of a re-versioned identical model and of one with ~3× the
 * compute, one after the other, each judged by the default gates against the rest of the fleet.
 */
out(machineLine());
out(
  `load average at start: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(', ')}`,
);
const started = performance.now();
const fleet = await RealFleet.start({
  ...DEFAULT_REAL_FLEET,
  agents: a.agents,
  rateHz: a.rateHz,
  model: { ...DEFAULT_REAL_FLEET.model, hidden: a.hidden },
  slowHiddenFactor: a.slowFactor,
  latencyTargetMs: a.targetMs > 0 ? a.targetMs : null,
  log: out,
});
let records: RunRecord[] = [];
try {
  const m = fleet.o.model;
  const base = await runTime(fleet.identical());
  const slow = await runTime(fleet.slow());
  out(
    `models: MLP ${m.inputSize}→${m.hidden}→10, batch ${m.batch} (FP32); slow: ${Math.round(m.hidden * fleet.o.slowHiddenFactor)} hidden units. ` +
      `session.run here, one thread: p50 ${fmt(base.p50 * 1000, 0)} µs vs ${fmt(slow.p50 * 1000, 0)} µs (×${fmt(slow.p50 / base.p50, 2)}), p99 ${fmt(base.p99 * 1000, 0)} µs vs ${fmt(slow.p99 * 1000, 0)} µs`,
  );
  out(
    `rollouts: default gates (baseline_regression +${DEFAULT_REGRESSION_TOLERANCE * 100} % and 2 % of the tier target at ${DEFAULT_GATE_CONFIDENCE * 100} % confidence; ` +
      `${fleet.o.scenario}'s policy${a.targetMs > 0 ? `, its target set to p99 ≤ ${a.targetMs} ms` : ' as shipped: p99 ≤ 10 ms'}); waves: ${a.canary} canary device(s) vs ${a.agents - a.canary} baseline, then the rest; soak ${a.soakSeconds} s; ` +
      `probe ${a.rateHz} Hz, ${fleet.o.windowSeconds} s windows`,
  );
  records = await runGateTrials(fleet, { identical: a.identical, slow: a.slow }, { canary: a.canary, soakSeconds: a.soakSeconds }, (r) => {
    const c = r.regression;
    out(
      `run ${r.index} (${r.kind}): ${r.status}${runIsCorrect(r) ? '' : ' — WRONG'}; ${c ? c.why : 'no canary vs baseline comparison'}; latency gate median p99 ${r.latencyMs?.toPrecision(3) ?? 'n/a'} ms (${r.seconds.toFixed(0)} s, load ${r.load.toFixed(1)})`,
    );
    out(`  placements: canary ${r.placements.canary.join(', ')}; baseline ${r.placements.baseline.join(', ')}`);
    if (r.restored)
      out(
        `  the fleet did not converge after the rollout: the runner reassigned ${r.status === 'completed' ? 'the new' : 'the previous'} model`,
      );
    if (!runIsCorrect(r)) {
      out(`  reason: ${r.reason}; waves: ${r.waves.map((w) => `${w.status} (${w.notPassed.join(', ') || 'all passed'})`).join(', ')}`);
      for (const g of r.gates.filter((x) => x.outcome !== 'passed'))
        out(`  ${g.metric} ${g.outcome}: ${g.detail}; ${g.failingDevices.map((d) => d.why).join(' | ')}`);
    }
  });
} finally {
  await fleet.stop();
}
out('');
for (const line of runTable(records)) out(line);
out('');
out(runCounts(records));
out(
  `load average at the end: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(', ')}; ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
process.exit(records.every(runIsCorrect) ? 0 : 1);
