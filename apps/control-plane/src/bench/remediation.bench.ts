/**
 * `pnpm bench:remediation [devices]`: the cost of remediation passes at fleet scale. N devices
 * (inserted with SQL, all robotic_manipulation, remediation `auto` without limits) are given a model
 * version's FP16 variant through the real assignment API; a tenth of them then report 40 ms windows
 * (over the 20 ms target), the rest 3 ms. One alert pass fires their latency alerts; then the
 * remediation pass that decides and applies every step-down (an action, an audit event, an override
 * and a new signed desired state per device, in one transaction), and an idle pass after it (nothing
 * left to decide: what every evaluation job adds when the fleet is healthy).
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { AlertEvaluator } from '../alerts/alert-evaluator.service.js';
import { RemediationService } from '../remediation/remediation.service.js';
import { startHarness, uploadMlp, waitFor } from '../test-support/harness.js';
import { insertBenchDevices, insertBenchProfile } from './bench-devices.js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const n = Number(process.argv[2] ?? 10_000);
const S = 'robotic_manipulation';
const h = await startHarness({ LOG_LEVEL: 'error', ALERT_EVAL_INTERVAL_MS: '0', VARIANT_BUILD: 'on' });
const put = async (p: string, body: unknown) => {
  const res = await h.api(p, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`PUT ${p}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
};
try {
  const db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await insertBenchProfile(db);
  const ids = Array.from({ length: n }, () => randomUUID());
  await insertBenchDevices(db, ids, [S], 1);
  const { id } = await uploadMlp(h, 'bench', '1', 1);
  await waitFor(
    async () =>
      ((await (await h.api(`/api/v1/models/${id}`)).json()) as { variants: { status: string }[] }).variants.every(
        (v) => v.status !== 'building',
      ),
    300_000,
    'variants built',
  );
  const policies = ((await (await h.api('/api/v1/policies')).json()) as { items: Record<string, unknown>[] }).items;
  const { scenario: _s, model: _m, updatedAt: _u, ...policy } = policies.find((p) => p.scenario === S) ?? {};
  await put(`/api/v1/policies/${S}`, { ...policy, precisionOrder: ['fp16', 'int8', 'fp32'], accuracyFloor: 0.98 });
  const assigned = await put(`/api/v1/scenarios/${S}/model`, { modelVersionId: id });
  await put(`/api/v1/remediation/settings/${S}`, {
    mode: 'auto',
    maxDevicesPerHour: 100_000,
    maxPercentPerHour: null,
    holdOffSeconds: 3_600,
    checkWindowSeconds: 3_600,
    rateFactor: 0.5,
    dutyCycle: 0.5,
  });
  const rules = ((await (await h.api('/api/v1/alert-rules')).json()) as { items: Record<string, unknown>[] }).items;
  const { id: ruleId, origin: _o, updatedAt: _r, ...latency } = rules.find((r) => r.name === 'latency_over_target') ?? {};
  await put(`/api/v1/alert-rules/${String(ruleId)}`, { ...latency, forSeconds: 0, lookbackSeconds: 60 });
  const end = new Date();
  await db.query(
    `INSERT INTO "TelemetryWindow" ("deviceId", "bootId", seq, "windowStart", "windowEnd", inferences, errors, "modelVersionId", "variantId", precision,
       "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "latencyMaxMs", "powerW", "powerSource", "powerDetail", "rssMb", "heapUsedMb")
     SELECT d.id, d.id, 0, $1::timestamptz - interval '5 seconds', $1::timestamptz, 50, 0, v."modelVersionId"::text, v.id::text, v.precision,
            l, l, l, l, 3, 'simulated', 'bench', 60, 20
       FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, ord) JOIN "Device" d ON d.id = u.id
       JOIN "Assignment" a ON a."deviceId" = d.id AND a.version = d."assignmentVersion" JOIN "ModelVariant" v ON v.id = a."modelVariantId",
       LATERAL (SELECT CASE WHEN ord % 10 = 0 THEN 40.0 ELSE 3.0 END AS l) x`,
    [end, ids],
  );
  await db.query('ANALYZE');
  const evaluator = h.cp.app.get(AlertEvaluator);
  const remediation = h.cp.app.get(RemediationService);
  const t0 = performance.now();
  const alerts = await evaluator.evaluate(new Date());
  const alertMs = performance.now() - t0;
  const timed = async () => {
    const c0 = process.cpuUsage();
    const t = performance.now();
    const r = await remediation.pass(new Date());
    const c = process.cpuUsage(c0);
    return { ms: performance.now() - t, cpuMs: (c.user + c.system) / 1_000, decisions: r.decisions.length };
  };
  const busy = await timed();
  const idle = await timed();
  const steppedDown = (
    (await db.query(`SELECT count(*)::int AS n FROM "RemediationAction" WHERE kind = 'precision_step_down' AND status = 'applied'`))
      .rows[0] as {
      n: number;
    }
  ).n;
  // what the busy pass decided, as stored, and the variants it could choose from
  const byStatus = await db.query<{ kind: string; status: string; n: number }>(
    `SELECT kind, status, count(*)::int AS n FROM "RemediationAction" GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  const variants = await db.query<{ method: string; status: string }>(`SELECT method, status FROM "ModelVariant" ORDER BY method`);
  console.log(`actions: ${byStatus.rows.map((r) => `${r.kind} ${r.status} ${r.n}`).join(', ')}`);
  console.log(`variants: ${variants.rows.map((v) => `${v.method} ${v.status}`).join(', ')}`);
  await db.end();
  console.log(
    `machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `devices: ${n} (${String(assigned.assigned)} assigned FP16); alert pass: ${alertMs.toFixed(0)} ms, ${alerts.transitions.length} transitions`,
  );
  console.log(
    `remediation pass with ${busy.decisions} decisions (${steppedDown} step-downs applied): ${busy.ms.toFixed(0)} ms, control-plane CPU ${busy.cpuMs.toFixed(0)} ms`,
  );
  console.log(
    `idle remediation pass (${idle.decisions} decisions): ${idle.ms.toFixed(0)} ms, control-plane CPU ${idle.cpuMs.toFixed(0)} ms`,
  );
} finally {
  await h.close();
}
