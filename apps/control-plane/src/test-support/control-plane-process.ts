import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startNodeProcess, waitFor, type Proc } from '@edge-fleet/test-utils';

export type { Proc } from '@edge-fleet/test-utils';

/** The built control plane (`pnpm --filter @edge-fleet/control-plane run build`). */
export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');

/** Everything a process writes is kept up to this much (the tail when more): outage tests read all of it. */
const KEPT_OUTPUT = 4 * 1024 * 1024;

/** Starts an entry point of the built control plane (dist/<entry>.js) as a real process with `env` added. */
export function startControlPlaneProcess(
  entry: 'main' | 'api' | 'worker' | 'drain-session',
  env: Record<string, string>,
  args: string[] = [],
): Proc {
  const file = path.join(DIST, `${entry}.js`);
  if (!existsSync(file))
    throw new Error(`${file} is missing: build the control plane first (pnpm --filter @edge-fleet/control-plane run build)`);
  return startNodeProcess([file, ...args], { env, keepChars: KEPT_OUTPUT });
}

/** Starts on a port taken meanwhile by someone else: a new port is tried this many times in all. */
const PORT_ATTEMPTS = 3;

/**
 * Starts an HTTP entry point on a free port (`env` is given the port) and waits until it says it
 * listens and its /readyz answers 200. The process binds its port only once it has migrated and
 * wired itself (seconds after freePort() on a loaded machine), and meanwhile another process may
 * take the port (any outgoing connection's local port comes from the same range): a start that
 * exits with EADDRINUSE is tried again on a new port. A /readyz answered before the process said
 * it listens (its "ready" line, logged at info) is not taken as its own.
 */
export async function startListening(
  entry: 'main' | 'api',
  env: (port: number) => Record<string, string>,
  o: { what: string; readyWithinMs: number },
): Promise<{ proc: Proc; url: string }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const e = env(port);
    if (['warn', 'error'].includes(e.LOG_LEVEL ?? 'info'))
      throw new Error(`startListening waits for the "ready" line logged at info: LOG_LEVEL ${e.LOG_LEVEL} hides it`);
    const proc = startControlPlaneProcess(entry, e);
    const url = `http://127.0.0.1:${port}`;
    let lastAnswer = 'no answer yet';
    const outcome = await waitFor(
      async () => {
        if (proc.child.exitCode !== null) {
          if (/EADDRINUSE/.test(proc.output()) && attempt < PORT_ATTEMPTS) return 'port taken';
          throw new Error(`${o.what} on ${port} exited with code ${proc.child.exitCode}:\n${proc.output().slice(-3_000)}`);
        }
        if (!/"msg":"control plane (api )?ready"/.test(proc.output())) return null;
        const res = await fetch(`${url}/readyz`).catch((err: unknown) => String(err));
        if (typeof res === 'string') return void (lastAnswer = res);
        lastAnswer = `${res.status} ${await res.text()}`;
        return res.ok && 'ready';
      },
      o.readyWithinMs,
      `${o.what} on ${port} ready`,
      { detail: () => `last /readyz: ${lastAnswer}\nexit code ${String(proc.child.exitCode)}\n${proc.output().slice(-3_000)}` },
    ).catch(async (err: unknown) => {
      await proc.stop();
      throw err;
    });
    if (outcome === 'ready') return { proc, url };
  }
}
