import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import type { AppRouter } from '@edge-fleet/control-plane/trpc';
import { MAX_TRPC_BATCH } from '@edge-fleet/shared/api';
import { readableErrorMessage } from './error-message';

export type * from './api-types';

/**
 * TanStack Query through tRPC: `useTRPC()` gives each procedure's `queryOptions`/`mutationOptions`/
 * `queryKey`, `useTRPCClient()` the plain client for one-off calls.
 * https://trpc.io/docs/client/tanstack-react-query/setup
 */
export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

/** Browser-side client: same-origin calls to the Next proxy, which adds the operator token. */
export function makeTrpcClient() {
  return createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: '/api/trpc', maxItems: MAX_TRPC_BATCH })] });
}

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
