import { loadavg } from 'node:os';
import { waitFor } from '@edge-fleet/test-utils';
import { z } from 'zod';
import type { RealFleet, Uploaded } from './real-fleet.js';

/** Which model a run rolls out: the base model re-versioned (same graph and weights), or one with ~3× its compute. */
export type RunKind = 'identical' | 'slow';

export interface RunPlan {
  /** Devices in the canary wave; the rest of the fleet is its baseline (same hardware class, same period). */
  canary: number;
  /** Soak of each wave; the gates then wait up to as long again for the minimum evidence. */
  soakSeconds: number;
}

const Summary = z.object({ devices: z.number(), windows: z.number(), inferences: z.number(), quantileMs: z.number().nullable() });
const ClassSchema = z.object({
  hardwareClass: z.string(),
  percentile: z.string(),
  verdict: z.string(),
  why: z.string(),
  canary: Summary,
  baseline: Summary,
  effect: z.number().nullable(),
  effectMs: z.number().nullable(),
  interval: z.tuple([z.number(), z.number()]).nullable(),
  pValue: z.number().nullable(),
  confidence: z.number(),
  thresholds: z.object({ relative: z.number(), absoluteMs: z.number() }),
  median: z
    .object({
      effect: z.number(),
      effectMs: z.number(),
      interval: z.tuple([z.number(), z.number()]).nullable(),
      pValue: z.number().nullable(),
      failed: z.boolean(),
    })
    .optional(),
});
const GateSchema = z.object({
  metric: z.string(),
  outcome: z.string(),
  detail: z.string(),
  judged: z.number(),
  failing: z.number(),
  figure: z.number().nullable(),
  threshold: z.number().nullable(),
  failingDevices: z.array(z.object({ deviceId: z.string(), why: z.string() })),
  classes: z.array(ClassSchema).optional(),
});
const RolloutSchema = z.object({
  id: z.string(),
  status: z.string(),
  reason: z.string(),
  waves: z.array(
    z.object({ status: z.string(), size: z.number(), gate: z.object({ outcome: z.string(), gates: z.array(GateSchema) }).nullable() }),
  ),
  deviceStates: z.array(z.object({ deviceId: z.string(), wave: z.number() })),
});
type Rollout = z.infer<typeof RolloutSchema>;
export type GateFigures = z.infer<typeof GateSchema>;
export type ClassFigures = z.infer<typeof ClassSchema>;

/** One rollout's result, as the canary wave's gates judged it. */
export interface RunRecord {
  index: number;
  kind: RunKind;
  version: string;
  /** completed, rolled_back, paused (then aborted by the runner), … */
  status: string;
  reason: string;
  /** The canary wave's gate outcome: passed, failed or insufficient_evidence. */
  canaryOutcome: string;
  /** Each wave's status and the gates that did not pass it (`metric outcome`). */
  waves: { status: string; notPassed: string[] }[];
  /** Metrics whose gate failed on the canary wave. */
  failedGates: string[];
  /** The canary wave's gates. */
  gates: GateFigures[];
  /** baseline_regression's canary vs baseline test (one hardware class here). */
  regression: ClassFigures | null;
  /** The latency gate's figure: the median over canary devices of their p99, ms. */
  latencyMs: number | null;
  seconds: number;
  /** The 1-minute load average when the run started. */
  load: number;
  /** The fleet did not converge after the rollout and the runner reassigned the model. */
  restored: boolean;
  /** Where the agents ran the models at the verdict (inline or worker thread): canary devices, then the baseline's. */
  placements: { canary: string[]; baseline: string[] };
}

/** Whether the gates did what they must: pass the re-versioned identical model, stop the slow one at the canary. */
export function runIsCorrect(r: RunRecord): boolean {
  return r.kind === 'identical' ? r.status === 'completed' : r.status === 'rolled_back' && r.canaryOutcome === 'failed';
}

const DONE = ['completed', 'rolled_back', 'paused', 'aborted'];

async function getRollout(fleet: RealFleet, id: string): Promise<Rollout> {
  return RolloutSchema.parse(await fleet.api.getJson(`/api/v1/rollouts/${id}`));
}

/**
 * Rolls `next` out over the fleet with the default gates (two waves: `plan.canary` devices, then
 * the rest), waits for the verdict, and leaves every agent on one model again: the new one when
 * the rollout completed, the previous one when it was rolled back (or aborted after a pause).
 */
export async function runRollout(
  fleet: RealFleet,
  kind: RunKind,
  index: number,
  next: Uploaded,
  previous: Uploaded,
  plan: RunPlan,
): Promise<RunRecord> {
  const started = performance.now();
  const load = loadavg()[0] ?? 0;
  const created = RolloutSchema.pick({ id: true }).parse(
    await fleet.api.request(
      'POST',
      '/api/v1/rollouts',
      {
        name: `gate run ${index} (${kind})`,
        modelVersionId: next.versionId,
        target: { scenario: fleet.o.scenario },
        waves: [
          { count: plan.canary, soakSeconds: plan.soakSeconds },
          { percent: 100, soakSeconds: plan.soakSeconds },
        ],
      },
      true,
    ),
  );
  // two waves, each at most its soak, the evidence wait (the soak again) and the updates
  const limitMs = (4 * plan.soakSeconds + 240) * 1_000;
  const done = await waitFor(
    async () => {
      const r = await getRollout(fleet, created.id);
      return DONE.includes(r.status) ? r : null;
    },
    limitMs,
    `rollout ${created.id} (${kind}) to finish`,
    { intervalMs: 500, retryErrors: true, detail: () => fleet.cp.logTail() },
  );
  const placed = fleet.placements();
  const where = (wave0: boolean): string[] =>
    done.deviceStates.filter((d) => (d.wave === 0) === wave0).map((d) => (placed.get(d.deviceId) ?? 'unknown').split(':')[0] ?? '');
  const placements = { canary: where(true), baseline: where(false) };
  if (done.status === 'paused') await fleet.api.request('POST', `/api/v1/rollouts/${done.id}/abort`, undefined, true);
  // a later wave's failure sends back that wave only: the canary keeps the new model, so the
  // runner puts the whole fleet back on the previous one before the next run
  if (done.status !== 'completed' && done.waves[0]?.status === 'passed') await fleet.assign(previous);
  const expected = done.status === 'completed' ? next : previous;
  let restored = false;
  try {
    await fleet.allRunning(expected.variantId, 90_000);
  } catch (e) {
    // not seen to converge: say so in the record, and put the fleet on one model for the next run
    fleet.o.log(`run ${index}: the fleet did not converge on ${expected.version}: ${e instanceof Error ? e.message : String(e)}`);
    restored = true;
    await fleet.assign(expected);
    await fleet.allRunning(expected.variantId);
  }
  const canary = done.waves[0]?.gate ?? null;
  const gates = canary?.gates ?? [];
  return {
    index,
    kind,
    version: next.version,
    status: done.status,
    reason: done.reason,
    canaryOutcome: canary?.outcome ?? 'none',
    waves: done.waves.map((w) => ({
      status: w.status,
      notPassed: (w.gate?.gates ?? []).filter((g) => g.outcome !== 'passed').map((g) => `${g.metric} ${g.outcome}`),
    })),
    failedGates: gates.filter((g) => g.outcome === 'failed').map((g) => g.metric),
    gates,
    regression: gates.find((g) => g.metric === 'baseline_regression')?.classes?.[0] ?? null,
    latencyMs: gates.find((g) => g.metric === 'latency')?.figure ?? null,
    seconds: (performance.now() - started) / 1000,
    load,
    restored,
    placements,
  };
}

/**
 * `identical` + `slow` rollouts, alternating (identical first) so both meet the same machine: each
 * identical run re-versions the model the fleet runs; each slow run starts from it and is expected
 * to go back to it.
 */
export async function runGateTrials(
  fleet: RealFleet,
  counts: { identical: number; slow: number },
  plan: RunPlan,
  onRun: (r: RunRecord) => void = () => undefined,
): Promise<RunRecord[]> {
  const kinds: RunKind[] = [];
  for (let i = 0; i < Math.max(counts.identical, counts.slow); i++) {
    if (i < counts.identical) kinds.push('identical');
    if (i < counts.slow) kinds.push('slow');
  }
  let current = fleet.base;
  const records: RunRecord[] = [];
  for (const [i, kind] of kinds.entries()) {
    const version = `${i + 2}-${kind}`;
    const next = await fleet.upload(kind === 'identical' ? fleet.identical() : fleet.slow(), version);
    const r = await runRollout(fleet, kind, i + 1, next, current, plan);
    if (r.status === 'completed' && kind === 'identical') current = next;
    else if (r.status === 'completed') {
      // a slow model let through: back to the base model, so the next runs start where the others did
      await fleet.assign(current);
      await fleet.allRunning(current.variantId);
    }
    records.push(r);
    onRun(r);
  }
  return records;
}

const pct = (x: number | null | undefined): string =>
  x === null || x === undefined ? 'n/a' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
const ms = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : x.toPrecision(3));

/** The per-run table (Markdown), one row a rollout. */
export function runTable(records: readonly RunRecord[]): string[] {
  const lines = [
    '| run | model | rollout | canary gates | failed gates (canary) | p99 canary / baseline (ms) | effect at p99 | interval (confidence) | p | effect at p50 (interval, p) | canary: devices / windows / runs | baseline: devices / windows / runs | load | s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of records) {
    const c = r.regression;
    const interval = c?.interval ? `[${pct(c.interval[0])}, ${pct(c.interval[1])}] (${(c.confidence * 100).toFixed(0)} %)` : 'n/a';
    const n = (s: ClassFigures['canary'] | undefined): string => (s ? `${s.devices} / ${s.windows} / ${s.inferences}` : 'n/a');
    const m = c?.median;
    const median = m
      ? `${pct(m.effect)}${m.interval ? ` ([${pct(m.interval[0])}, ${pct(m.interval[1])}], ${m.pValue?.toPrecision(2) ?? ''})` : ' (within the threshold: not tested)'}`
      : 'n/a';
    lines.push(
      `| ${r.index} | ${r.kind} | ${r.status}${runIsCorrect(r) ? '' : ' **(wrong)**'} | ${r.canaryOutcome} | ${r.failedGates.join(', ') || '—'} | ${ms(c?.canary.quantileMs)} / ${ms(c?.baseline.quantileMs)} | ${pct(c?.effect)} | ${interval} | ${c?.pValue?.toPrecision(2) ?? 'n/a'} | ${median} | ${n(c?.canary)} | ${n(c?.baseline)} | ${r.load.toFixed(1)} | ${r.seconds.toFixed(0)} |`,
    );
  }
  return lines;
}

/** Pass and stop counts per kind: what the issue's acceptance reads. */
export function runCounts(records: readonly RunRecord[]): string {
  const of = (k: RunKind): RunRecord[] => records.filter((r) => r.kind === k);
  const passed = of('identical').filter(runIsCorrect).length;
  const stopped = of('slow').filter(runIsCorrect).length;
  return `re-versioned identical model passed ${passed} of ${of('identical').length}; ${'slower'} model stopped at the canary ${stopped} of ${of('slow').length}`;
}
