import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
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

/** Whether wrk (Debian's `wrk` package) is on PATH. */
export function haveWrk(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/**
 * The same closed loop driven by wrk, one thread: a C load generator costs far less CPU per
 * request than Node's http client, which matters when it shares the machine's two cores with the
 * server it measures. `paths` are picked at random per request by a small Lua script.
 */
export async function wrkLoad(
  baseUrl: string,
  paths: string[],
  headers: Record<string, string>,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ef-wrk-'));
  try {
    const script = path.join(dir, 'paths.lua');
    const list = paths.map((p) => `[[${p}]]`).join(',\n');
    await writeFile(
      script,
      `local paths = {\n${list}\n}\nrequest = function()\n  return wrk.format("GET", paths[math.random(#paths)])\nend\n`,
    );
    const args = [
      '-t1',
      `-c${concurrency}`,
      `-d${seconds}s`,
      '--latency',
      '-s',
      script,
      ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
      baseUrl,
    ];
    const r = spawnSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
    if (r.status !== 0) throw new Error(`wrk failed (${r.status ?? r.signal}): ${r.stderr}`);
    return parseWrk(r.stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

export function parseWrk(text: string): LoadResult {
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m ? Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1) : Number.NaN;
  };
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  const requests = num(/(\d+) requests in/);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = num(/Non-2xx or 3xx responses: (\d+)/) + (socketErrors ? socketErrors.slice(1).reduce((a, v) => a + Number(v), 0) : 0);
  const rps = num(/Requests\/sec:\s+([\d.]+)/);
  if (!requests || !rps) throw new Error(`could not read wrk's output:\n${text}`);
  const p50 = pct('50');
  const p99 = pct('99');
  return { requests, errors, rps, latencyMs: { n: requests, p50, p95: Number.NaN, p99, max: Number.NaN } };
}
