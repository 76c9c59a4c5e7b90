import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNodeProcess, type Proc } from '@edge-fleet/test-utils';

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
