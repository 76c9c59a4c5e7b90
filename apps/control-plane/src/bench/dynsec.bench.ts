/**
 * `pnpm bench:dynsec [devices=2000] [samples=50]`: what provisioning costs on Mosquitto's
 * dynamic-security plugin, which rewrites its whole JSON file after every command (so a command
 * costs more as the fleet grows). A private Mosquitto with the plugin; the control plane's
 * `DynsecBrokerAccess` over a real MQTT connection, no Postgres:
 * - enrollment: `deviceEnrolled` (a role and a client, two commands) one device after another, timed
 *   in slices as the broker fills up;
 * - revocation: `deviceRevoked` (one command) at the full size;
 * - start-up reconciliation of a broker that lost every client (all created again, in batches);
 * - reconciliation when nothing is to do (one listClients walk).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger } from '../infra/logger.js';
import { DynsecBrokerAccess } from '../mqtt/dynsec-broker-access.js';
import { DynsecClient } from '../mqtt/dynsec-client.js';
import { Mosquitto } from '@edge-fleet/test-utils';

const n = Number(process.argv[2] ?? 2_000);
const samples = Number(process.argv[3] ?? 50);
const log = new Logger('bench', 'error');

async function access(m: Mosquitto): Promise<DynsecBrokerAccess> {
  const admin = m.admin ?? { username: '', password: '' };
  const a = new DynsecBrokerAccess(new DynsecClient({ url: m.url, ...admin, log }), admin.username, 'edge-fleet', log);
  await a.start();
  return a;
}

const fmt = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1);

const m = await Mosquitto.create('dynsec');
await m.start();
try {
  const a = await access(m);
  const ids = Array.from({ length: n }, () => randomUUID());
  const secret = randomBytes(32).toString('base64url');
  console.log(`bench:dynsec: ${n} devices, Mosquitto 2.0 dynamic security on loopback, one control-plane connection`);
  const slice = Math.max(1, Math.floor(n / 5));
  for (let i = 0; i < n; i += slice) {
    const t0 = performance.now();
    const end = Math.min(n, i + slice);
    for (let j = i; j < end; j++) await a.deviceEnrolled(ids[j] ?? '', secret);
    const ms = (performance.now() - t0) / (end - i);
    console.log(`  enroll devices ${i + 1}–${end}: ${fmt(ms)} ms per device (${(1000 / ms).toFixed(0)}/s)`);
  }
  const file = (await stat(path.join(m.dir, 'dynamic-security.json'))).size;
  let t0 = performance.now();
  for (const id of ids.slice(0, samples)) await a.deviceRevoked(id);
  console.log(`  revoke at ${n} devices: ${fmt((performance.now() - t0) / samples)} ms per device (file ${(file / 1e6).toFixed(1)} MB)`);
  await a.stop();

  // a broker that lost every client: start-up reconciliation creates them all again
  const fresh = await Mosquitto.create('dynsec');
  await fresh.start();
  try {
    const b = await access(fresh);
    const devices = ids.map((id) => ({ id, revoked: false }));
    t0 = performance.now();
    const created = await b.reconcile(devices);
    const full = performance.now() - t0;
    t0 = performance.now();
    const nothing = await b.reconcile(devices);
    const idle = performance.now() - t0;
    console.log(`  reconcile, broker empty: created ${created.created} in ${(full / 1000).toFixed(1)} s (${fmt(full / n)} ms per device)`);
    console.log(
      `  reconcile, nothing to do: ${fmt(idle)} ms for ${n} devices (changes: ${nothing.created + nothing.disabled + nothing.repaired})`,
    );
    await b.stop();
  } finally {
    await fresh.close();
  }
} finally {
  await m.close();
}
