import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import type { inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@edge-fleet/control-plane/trpc';
import { readableErrorMessage } from './error-message';

/** Browser-side client: same-origin calls to the Next proxy, which adds the operator token. */
export const trpc = createTRPCClient<AppRouter>({
  links: [httpBatchLink({ url: '/api/trpc' })],
});

type Outputs = inferRouterOutputs<AppRouter>;
export type FleetOverview = Outputs['fleet']['overview'];
export type ScenarioOverview = FleetOverview['scenarios'][number];
export type DevicePage = Outputs['devices']['list'];
export type DeviceListItem = DevicePage['items'][number];
export type DeviceDetail = Outputs['devices']['get'];
export type TelemetryPoint = Outputs['devices']['telemetry']['points'][number];
export type ModelVersion = Outputs['models']['list']['items'][number];
export type ModelVariant = ModelVersion['variants'][number];
export type Policy = Outputs['policies']['list']['items'][number];
export type RolloutSummary = Outputs['rollouts']['list']['items'][number];
export type RolloutView = Outputs['rollouts']['get'];
export type RolloutWave = RolloutView['waves'][number];
export type RolloutGate = NonNullable<RolloutWave['gate']>;
export type RolloutGateOutcome = RolloutGate['gates'][number];
export type RolloutDeviceState = RolloutView['deviceStates'][number];

/** The tRPC error code of a failed call (`UNAUTHORIZED`, `NOT_FOUND`, …), if the server sent one. */
export function errorCode(e: unknown): string | null {
  if (!(e instanceof TRPCClientError)) return null;
  const data: unknown = e.data;
  if (typeof data === 'object' && data !== null && 'code' in data && typeof data.code === 'string') return data.code;
  return null;
}

/** The message of a failed call for people; a forwarded validation error becomes "field: problem; …". */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? readableErrorMessage(e.message) : String(e);
}
