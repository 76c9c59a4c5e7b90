import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** What one closed-loop run of wrk measured; latencies in ms. */
export interface WrkFigures {
  requests: number;
  /** Non-2xx/3xx answers and socket errors. */
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

/** Whether wrk (Debian's `wrk` package) is on PATH. */
export function haveWrk(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/**
 * A closed loop driven by wrk, one thread: `concurrency` keep-alive connections, each sending its
 * next request as soon as the previous answer is read, for `seconds`. A C load generator costs far
 * less CPU per request than Node's http client, which matters when it shares the machine's two
 * cores with the server it measures (its own stalls would be counted as the server's latency).
 * `paths` are picked at random per request by a small Lua script.
 */
export async function wrkLoad(
  baseUrl: string,
  paths: string[],
  headers: Record<string, string>,
  concurrency: number,
  seconds: number,
): Promise<WrkFigures> {
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
    // not spawnSync: the server measured may run in this very process
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 }, (e, out, err) =>
        e ? reject(new Error(`wrk failed (${e.code ?? e.signal}): ${err}`)) : resolve(out),
      ),
    );
    return parseWrk(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Reads wrk's `--latency` report. */
export function parseWrk(text: string): WrkFigures {
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
  return { requests, errors, rps, p50: pct('50'), p99: pct('99') };
}
