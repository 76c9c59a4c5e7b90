import { z } from 'zod';
import { DEFAULT_GATE_CONFIDENCE, DEFAULT_REGRESSION_TOLERANCE } from '@edge-fleet/shared';
import { DEFAULT_NOISE } from '../sim/latency.model.js';
import { runTrial } from '../sim/gate-trial.js';
import { benchArgs, machineLine, out } from './support/report.js';

const Args = z.object({
  trials: z.coerce.number().int().min(1).max(10_000).default(100),
  seed: z.coerce.number().int().min(0).default(1),
});
const a = benchArgs(Args, 'usage: bench:gates [--trials 100] [--seed 1]');

/**
 * How often the default gates fail a wave whose new version is as fast as the old one (false
 * failures) and pass or stall one that is slower (misses), on simulated canary waves from the
 * simulator's seeded latency model with its per-device and per-window noise. CPU only, no services.
 */
out(machineLine());
out(
  `gates: default (baseline_regression +${DEFAULT_REGRESSION_TOLERANCE * 100} % and 2 % of the 10 ms p99 target, ${DEFAULT_GATE_CONFIDENCE * 100} % confidence); ` +
    `noise: device sigma ${DEFAULT_NOISE.deviceSigma}, window sigma ${DEFAULT_NOISE.windowSigma}; ${a.trials} seeded trials per cell; 6 windows per device`,
);
const sizes = [
  { canary: 5, baseline: 15 },
  { canary: 10, baseline: 30 },
  { canary: 20, baseline: 60 },
];
const perWindow = [200, 500];
const effects = [1, 1.1, 1.2, 1.3, 1.5, 3];
out('');
out(
  `| canary / baseline devices | inferences / window | ${effects.map((e) => (e === 1 ? 'same: false failures' : `×${e}: missed`)).join(' | ')} |`,
);
out(`|---|---|${effects.map(() => '---').join('|')}|`);
const started = performance.now();
for (const s of sizes) {
  for (const n of perWindow) {
    const cells = effects.map((slowdown) => {
      let failed = 0;
      let waited = 0;
      for (let i = 0; i < a.trials; i++) {
        const r = runTrial({
          seed: a.seed * 100_003 + i,
          canaryDevices: s.canary,
          baselineDevices: s.baseline,
          windowsPerDevice: 6,
          inferencesPerWindow: n,
          slowdown,
        });
        if (r.outcome === 'failed') failed++;
        else if (r.outcome === 'insufficient_evidence') waited++;
      }
      const bad = slowdown === 1 ? failed : a.trials - failed;
      return `${((bad / a.trials) * 100).toFixed(1)} %${waited ? ` (${waited} waited)` : ''}`;
    });
    out(`| ${s.canary} / ${s.baseline} | ${n} | ${cells.join(' | ')} |`);
  }
}
out('');
out(`${((performance.now() - started) / 1000).toFixed(1)} s`);
