'use client';

import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState, type ReactNode } from 'react';
import { errorCode, makeTrpcClient, TRPCProvider } from '@/lib/trpc';

/**
 * TanStack Query and the tRPC client for the operator pages. An expired session, on any query or
 * mutation, sends the operator to sign in; every other failure stays with the view that made the call.
 */
export function QueryProvider({ children }: { children: ReactNode }) {
  const router = useRouter();
  const [clients] = useState(() => {
    const signInAgain = (e: unknown) => {
      if (errorCode(e) === 'UNAUTHORIZED') router.replace('/login');
    };
    const queryClient = new QueryClient({
      queryCache: new QueryCache({ onError: signInAgain }),
      mutationCache: new MutationCache({ onError: signInAgain }),
      // live views poll every 2 s: the next poll is the retry, and a refused call is not retried at all
      defaultOptions: { queries: { retry: false }, mutations: { retry: false } },
    });
    return { queryClient, trpcClient: makeTrpcClient() };
  });
  return (
    <QueryClientProvider client={clients.queryClient}>
      <TRPCProvider trpcClient={clients.trpcClient} queryClient={clients.queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
