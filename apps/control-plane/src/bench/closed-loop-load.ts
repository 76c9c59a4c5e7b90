/**
 * A closed-loop HTTP load generator run in its own process: `connections` keep-alive connections,
 * each sending its next request (a path picked at random) as soon as the last answer is read, for
 * `seconds`. In the benchmark's own process, the generator's CPU (some 30-50 % of a request's, with
 * Node's http client) was counted in the server's latencies; in a child, the two only share the
 * machine's cores, as a real client and server would.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { haveWrk, wrkLoad } from '@edge-fleet/test-utils';

export interface LoadSpec {
  base: string;
  token: string;
  paths: string[];
  connections: number;
  seconds: number;
}

export interface LoadFigures {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;

async function run(spec: LoadSpec): Promise<LoadFigures> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const u = new URL(spec.base);
  const lat: number[] = [];
  let errors = 0;
  const until = performance.now() + spec.seconds * 1_000;
  const one = () =>
    new Promise<void>((resolve) => {
      const t = performance.now();
      const p = spec.paths[Math.floor(Math.random() * spec.paths.length)] ?? '/';
      const req = http.request(
        { host: u.hostname, port: u.port, path: p, agent, headers: { authorization: `Bearer ${spec.token}` } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if ((res.statusCode ?? 500) >= 400) errors++;
            lat.push(performance.now() - t);
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      while (performance.now() < until) await one();
    }),
  );
  agent.destroy();
  return {
    requests: lat.length,
    rps: lat.length / ((performance.now() - t0) / 1_000),
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    errors,
  };
}

/**
 * The closed loop, driven by wrk when it is installed (`apt-get install wrk`: a C generator, a
 * fraction of the CPU per request, so fewer of its own stalls are counted as the server's), else by
 * Node's http client in a child process (loadInChild); `generator` says which.
 */
export async function closedLoopLoad(spec: LoadSpec): Promise<LoadFigures & { generator: string }> {
  if (!haveWrk()) return { ...(await loadInChild(spec)), generator: "Node's http client in its own process" };
  const f = await wrkLoad(spec.base, spec.paths, { authorization: `Bearer ${spec.token}` }, spec.connections, spec.seconds);
  return { ...f, generator: 'wrk, one thread' };
}

/** Runs the load in a child process (this file) and returns its figures. */
export function loadInChild(spec: LoadSpec): Promise<LoadFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as LoadFigures) : reject(new Error(`load generator exited with ${code}: ${out}`)),
    );
    child.stdin.end(JSON.stringify(spec));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let input = '';
  process.stdin.setEncoding('utf8').on('data', (s: string) => (input += s));
  process.stdin.on('end', () => {
    run(JSON.parse(input) as LoadSpec).then(
      (f) => process.stdout.write(JSON.stringify(f)),
      (e: unknown) => {
        process.stderr.write(`${String(e)}\n`);
        process.exitCode = 1;
      },
    );
  });
}
