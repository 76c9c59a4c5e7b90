import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess as startNode, type Proc } from '@edge-fleet/test-utils';

/** The built control plane (dist/): tests that run it as real processes need `pnpm run build` first. */
export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');

export type ControlPlaneProc = Proc;

/** Starts `dist/<entry>.js` as a process of its own with the test's environment on top of this one's. */
export function startProcess(entry: 'main' | 'api' | 'worker', env: Record<string, string>): ControlPlaneProc {
  const file = path.join(DIST, `${entry}.js`);
  if (!existsSync(file))
    throw new Error(`${file} is missing: build the control plane first (pnpm --filter @edge-fleet/control-plane run build)`);
  return startNode([file], env);
}
