import { z } from 'zod';

/** Path parameters of `/api/v1/rollouts/{id}`; also tRPC `rollouts.get` input. */
export const RolloutIdParamsSchema = z.strictObject({ id: z.uuid() });
export type RolloutIdParams = z.infer<typeof RolloutIdParamsSchema>;

/** What an operator may do to a running rollout. */
export const ROLLOUT_ACTIONS = ['pause', 'resume', 'abort', 'approve'] as const;
export const RolloutActionSchema = z.enum(ROLLOUT_ACTIONS, {
  error: (i) => `unknown action ${JSON.stringify(i.input)}; use one of ${ROLLOUT_ACTIONS.join(', ')}`,
});
export type RolloutAction = z.infer<typeof RolloutActionSchema>;

/** Path parameters of `POST /api/v1/rollouts/{id}/{action}`; also tRPC `rollouts.act` input. */
export const RolloutActionParamsSchema = z.strictObject({ id: z.uuid(), action: RolloutActionSchema });
export type RolloutActionParams = z.infer<typeof RolloutActionParamsSchema>;
