import type { RolloutView } from '../rollouts/rollouts.service.js';
import { waitFor, type ApiTarget } from './harness.js';

/** A rollout as the API shows it. */
export async function rolloutView(h: ApiTarget, id: string): Promise<RolloutView> {
  return (await (await h.api(`/api/v1/rollouts/${id}`)).json()) as RolloutView;
}

/** Waits until the rollout is in one of `statuses` and returns its view. */
export function untilRollout(h: ApiTarget, id: string, statuses: readonly string[], ms = 30_000): Promise<RolloutView> {
  return waitFor(
    async () => {
      const v = await rolloutView(h, id);
      return statuses.includes(v.status) ? v : null;
    },
    ms,
    `rollout ${statuses.join('/')}`,
  );
}
