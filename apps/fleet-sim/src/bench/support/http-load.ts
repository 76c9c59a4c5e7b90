import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { WrkFigures } from '@edge-fleet/test-utils';
import { summarize, type Summary } from '../../core/stats.js';

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  latencyMs: Summary;
}

/**
 * A closed-loop load generator (autocannon-like): `concurrency` keep-alive connections, each
 * sending its next request as soon as the previous answer is read, for `seconds`.
 */
export async function httpLoad(
  baseUrl: string,
  pathFor: () => string,
  headers: Record<string, string>,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const u = new URL(baseUrl);
  const latencies: number[] = [];
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t = performance.now();
      const req = http.request({ host: u.hostname, port: u.port, path: pathFor(), method: 'GET', agent, headers }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 400) errors += 1;
          latencies.push(performance.now() - t);
          resolve();
        });
      });
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end();
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) await one();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { requests: latencies.length, errors, rps: latencies.length / elapsed, latencyMs: summarize(latencies) };
}

/** wrk's figures (@edge-fleet/test-utils' wrkLoad: the same closed loop in C) as a LoadResult. */
export function fromWrk(r: WrkFigures): LoadResult {
  return {
    requests: r.requests,
    errors: r.errors,
    rps: r.rps,
    latencyMs: { n: r.requests, p50: r.p50, p95: Number.NaN, p99: r.p99, max: Number.NaN },
  };
}
