import type { EngineFactory, InferenceEngine, RunResult } from './inference.engine.js';
import type { InferResult } from './served-tensor.js';

/**
 * Fault injection (`--inject-latency-ms`, off by default): every run of the model — applications'
 * requests and the probe alike — takes `extraMs()` longer than it did and reports that much more,
 * as a throttled or overloaded device would. For demos and tests of what slowness does (a hybrid
 * device's forwarded share rising, the gates and watchdog reacting); the agent logs it loudly and
 * reports it (`faultInjection`), so nobody mistakes the figures for the model's own. The pause is
 * a timer after the real run: the agent's event loop stays free.
 */
export function withInjectedLatency(create: EngineFactory, extraMs: () => number): EngineFactory {
  return (options) => {
    const real = create(options);
    const slowed = async <R extends RunResult | InferResult>(result: R): Promise<R> => {
      const ms = extraMs();
      if (ms <= 0) return result;
      await new Promise((r) => setTimeout(r, ms));
      return { ...result, latencyMs: result.latencyMs === null ? null : result.latencyMs + ms };
    };
    const engine: InferenceEngine = {
      load: (path, inputs) => real.load(path, inputs),
      dispose: () => real.dispose(),
      run: async (o) => slowed(await real.run(o)),
      signature: () => real.signature?.() ?? null,
      placementBasis: () => real.placementBasis?.() ?? null,
      get placement() {
        return real.placement ?? null;
      },
    };
    const infer = real.infer?.bind(real);
    if (infer !== undefined) engine.infer = async (inputs) => slowed(await infer(inputs));
    return engine;
  };
}
