import { readFileSync } from 'node:fs';
import { HybridPlacementSchema, InputSpecListSchema, ScenarioSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { silentLogger } from '../core/logger.js';
import { createWorkerEngine } from '../engine/worker-inference.engine.js';
import { LocalInferenceService } from '../serve/local-inference.service.js';

/**
 * The agent's serving stack in a process of its own (its RSS is its own): the engine with its
 * placement rule, the serving slot and the listeners on a Unix socket and loopback TCP. Exported
 * as `@edge-fleet/device-agent/bench/serve-side` for fleet-sim's serve benchmark and its traffic
 * client's test, which measure the real agent without importing another app's code.
 *
 * argv[2]: the options as JSON (ServeSideOptions). IPC: answers `ready` with the placement and TCP
 * port once listening; then `rss` → its RSS, `activate` → the model is served (when started with
 * `activate: false`; the answer counts the requests answered before), `served` → the requests
 * answered so far, ok and failed.
 */
const ServeSideOptionsSchema = z.strictObject({
  model: z.string().min(1),
  /** A JSON file with the model's input specs. */
  inputs: z.string().min(1),
  socketPath: z.string().min(1),
  queueDepth: z.int().min(1).default(64),
  threads: z.int().min(1).default(1),
  cacheEntries: z.int().min(0).default(0),
  /** The name the model is served under (`/v2/models/{scenario}`). */
  scenario: ScenarioSchema.default('data_analysis_agent'),
  /** false: listen with no model until `activate` arrives. */
  activate: z.boolean().default(true),
  /** A cloud node: TCP requests need a forwarding grant signed under this root key (base64 SPKI). */
  cloudRootPublicKey: z.string().min(1).optional(),
  /** A hybrid device: its cloud nodes and grant, as a desired state would bring them. */
  hybrid: HybridPlacementSchema.optional(),
});
export type ServeSideOptions = z.input<typeof ServeSideOptionsSchema>;

const o = ServeSideOptionsSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const inputs = InputSpecListSchema.parse(JSON.parse(readFileSync(o.inputs, 'utf8')));
const engine = createWorkerEngine({ intraOpThreads: o.threads, seed: 1 });
await engine.load(o.model, inputs);
const served = { ok: 0, failed: 0 };
const service = new LocalInferenceService(
  {
    socketPath: o.socketPath,
    host: '127.0.0.1',
    port: 0,
    token: null,
    maxBodyBytes: 64 * 1024 * 1024,
    queueDepth: o.queueDepth,
    cacheEntries: o.cacheEntries,
    deadlineMs: 60_000,
  },
  silentLogger,
  (r) => (r.ok ? served.ok++ : served.failed++),
  undefined,
  undefined,
  o.cloudRootPublicKey === undefined
    ? { kind: 'device', scenario: o.scenario }
    : { kind: 'cloud', scenario: o.scenario, rootPublicKey: o.cloudRootPublicKey },
);
if (o.hybrid !== undefined) service.setHybrid(o.hybrid);
await service.start();
const activate = (): void =>
  service.setActive(
    engine,
    { name: 'bench', version: '1', variantId: 'bench-fp32', precision: 'fp32', sha256: '0'.repeat(64), inputs },
    o.scenario,
  );
if (o.activate) activate();
process.send?.({ type: 'ready', placement: engine.placement ?? 'none', port: service.port });
process.on('message', (raw: unknown) => {
  const type = (raw as { type?: unknown } | null)?.type;
  if (type === 'rss') process.send?.({ type: 'rss', rssMb: process.memoryUsage().rss / 1_048_576 });
  if (type === 'served') process.send?.({ type: 'served', ...served });
  if (type === 'activate') {
    const before = { ...served };
    activate();
    process.send?.({ type: 'activated', ...before });
  }
});
