'use client';

import { useEffect, useRef, useState } from 'react';
import { useRouter } from 'next/navigation';
import { errorCode } from './trpc';

export const POLL_INTERVAL_MS = 2_000;

export type PollState<T> =
  | { status: 'loading' }
  | { status: 'ok'; data: T; error: null }
  | { status: 'ok'; data: T; error: string }
  | { status: 'error'; error: string; code: string | null };

/**
 * Calls `load` now and every 2 s after the previous call settles (never two in flight), until unmount or a
 * key change. Keeps the last good data on a failed poll; an expired session sends the operator to sign in.
 */
export function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, key: string): PollState<T> {
  const [state, setState] = useState<PollState<T>>({ status: 'loading' });
  const router = useRouter();
  // The latest `load` closure (it sees the current filters); `key` says when to start over.
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState({ status: 'loading' });

    const tick = async () => {
      try {
        const data = await loadRef.current(abort.signal);
        if (!abort.signal.aborted) setState({ status: 'ok', data, error: null });
      } catch (e) {
        if (abort.signal.aborted) return;
        const code = errorCode(e);
        if (code === 'UNAUTHORIZED') {
          router.replace('/login');
          return;
        }
        const message = e instanceof Error ? e.message : String(e);
        setState((prev) => (prev.status === 'ok' ? { status: 'ok', data: prev.data, error: message } : { status: 'error', error: message, code }));
      }
      if (!abort.signal.aborted) timer = setTimeout(() => void tick(), POLL_INTERVAL_MS);
    };
    void tick();

    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [key, router]);

  return state;
}
