#!/usr/bin/env node
import { TierSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { driveTraffic, TIER_RATE_PER_SECOND, type TrafficCounts } from './device-traffic.js';

/**
 * The demo's applications: one process driving every demo agent's local inference API at its tier's
 * rate (scripts/start.mjs starts it with the fleet). argv[2]: JSON list of { name, baseUrl, model, tier, token? }.
 * Stops on SIGINT/SIGTERM, and by itself when the process that started it is gone, so it never
 * outlives the demo.
 */
const TargetsSchema = z
  .array(
    z.strictObject({
      name: z.string().min(1),
      baseUrl: z.url(),
      model: z.string().min(1),
      tier: TierSchema,
      token: z.string().min(16).optional(),
    }),
  )
  .min(1);

const parsed = TargetsSchema.safeParse(JSON.parse(process.argv[2] ?? '[]'));
if (!parsed.success) {
  process.stderr.write(`demo-traffic: bad targets: ${z.prettifyError(parsed.error)}\n`);
  process.exit(2);
}
const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop.abort());
const parent = process.ppid;
const orphanCheck = setInterval(() => {
  if (process.ppid !== parent) stop.abort();
}, 2_000);

const runs = parsed.data.map((t, i) => {
  const target = { ...t, ratePerSecond: TIER_RATE_PER_SECOND[t.tier] };
  process.stdout.write(`${t.name}: ${target.ratePerSecond} requests/s to ${t.baseUrl}/v2/models/${t.model}/infer\n`);
  return driveTraffic(target, stop.signal, i + 1);
});
const totals: TrafficCounts[] = await Promise.all(runs);
clearInterval(orphanCheck);
parsed.data.forEach((t, i) => process.stdout.write(`${t.name}: ${JSON.stringify(totals[i])}\n`));
