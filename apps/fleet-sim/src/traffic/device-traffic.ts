import { setTimeout as delay } from 'node:timers/promises';
import { OipModelMetadataSchema, type Tier } from '@edge-fleet/shared';
import { createPrng } from '../core/prng.js';
import { exampleInputs } from './example-inputs.js';

/**
 * Requests per second an application of each tier sends in the demo. Each is above the agent's
 * probe threshold (one request a second keeps the probe quiet), so the demo's windows are traffic.
 */
export const TIER_RATE_PER_SECOND: Record<Tier, number> = { high: 20, medium: 10, low: 5 };

/** Requests a client keeps open at once; a tick that finds them all busy is skipped, so memory stays bounded. */
export const MAX_IN_FLIGHT = 4;

export interface TrafficTarget {
  /** The device's name, for logs. */
  name: string;
  /** The agent's local inference API, e.g. http://127.0.0.1:8701. */
  baseUrl: string;
  /** Scenario or registered model name, as the agent addresses the model. */
  model: string;
  ratePerSecond: number;
  /** The agent's bearer token (`--serve-token-file`), for agents that require one on TCP: cloud nodes. */
  token?: string;
}

export interface TrafficCounts {
  ok: number;
  /** 429: the agent's queue was full. */
  refused: number;
  /** Any other answer, or no answer. */
  failed: number;
  /** Ticks skipped because MAX_IN_FLIGHT requests were still open (the agent is slower than the rate). */
  skipped: number;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);

/**
 * Acts as one device's application: waits until the agent serves the model, reads its metadata
 * (GET /v2/models/{model}), then sends inference requests with inputs of those shapes at the target
 * rate until `signal` aborts. A refused or failed request makes it read the metadata again (an
 * update may have changed the model's inputs); an agent that is down is polled every second, never
 * in a tight loop. Resolves with what happened.
 */
export async function driveTraffic(target: TrafficTarget, signal: AbortSignal, seed = 1): Promise<TrafficCounts> {
  const counts: TrafficCounts = { ok: 0, refused: 0, failed: 0, skipped: 0 };
  const rand = createPrng(seed);
  const url = `${target.baseUrl}/v2/models/${encodeURIComponent(target.model)}`;
  const auth: Record<string, string> = target.token === undefined ? {} : { authorization: `Bearer ${target.token}` };
  const intervalMs = 1000 / target.ratePerSecond;
  const open = new Set<Promise<void>>();
  while (!signal.aborted) {
    const metadata = await readMetadata(url, auth, signal);
    if (metadata === null) {
      await sleep(1_000, signal);
      continue;
    }
    // set by an answer that says the model is gone or changed
    const model = { stale: false };
    let next = Date.now();
    while (!signal.aborted && !model.stale) {
      if (open.size >= MAX_IN_FLIGHT) counts.skipped++;
      else {
        const body = JSON.stringify({ id: `demo-${counts.ok + counts.failed + counts.refused}`, inputs: exampleInputs(metadata, rand) });
        const p = send(`${url}/infer`, body, auth, signal).then((status) => {
          // a request cut off by the stop is the client's doing, not the agent's failure
          if (status === 0 && signal.aborted) return;
          if (status === 200) counts.ok++;
          else if (status === 429) counts.refused++;
          else {
            counts.failed++;
            model.stale = true;
          }
        });
        open.add(p);
        void p.finally(() => open.delete(p));
      }
      next += intervalMs;
      await sleep(Math.max(0, next - Date.now()), signal);
    }
  }
  await Promise.all(open);
  return counts;
}

async function readMetadata(url: string, headers: Record<string, string>, signal: AbortSignal) {
  try {
    const ready = await fetch(`${url}/ready`, { headers, signal });
    if (ready.status !== 200) return null;
    const res = await fetch(url, { headers, signal });
    return res.status === 200 ? OipModelMetadataSchema.parse(await res.json()) : null;
  } catch {
    // the agent is starting, restarting or stopped: the caller polls again
    return null;
  }
}

/** The answer's status; 0 when there was none (connection refused, aborted). */
async function send(url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<number> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body, signal });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
