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

export interface PollOptions<T> {
  /** Polls again after an answer only while this holds (a finished rollout stops changing); default always. */
  continueWhile?: (data: T) => boolean;
}

/**
 * Calls `load` now and every 2 s after the previous call settles (never two in flight), until unmount, a
 * key change, or an answer for which `continueWhile` is false. Keeps the last good data on a failed poll;
 * an expired session sends the operator to sign in.
 */
export function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, key: string, options: PollOptions<T> = {}): PollState<T> {
  const [state, setState] = useState<PollState<T>>({ status: 'loading' });
  const router = useRouter();
  // The latest `load` closure (it sees the current filters); `key` says when to start over.
  const loadRef = useRef(load);
  const continueRef = useRef(options.continueWhile);
  useEffect(() => {
    loadRef.current = load;
    continueRef.current = options.continueWhile;
  });

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState({ status: 'loading' });

    const tick = async () => {
      try {
        const data = await loadRef.current(abort.signal);
        if (abort.signal.aborted) return;
        setState({ status: 'ok', data, error: null });
        if (continueRef.current && !continueRef.current(data)) return;
      } catch (e) {
        if (abort.signal.aborted) return;
        const code = errorCode(e);
        if (code === 'UNAUTHORIZED') {
          router.replace('/login');
          return;
        }
        const message = e instanceof Error ? e.message : String(e);
        setState((prev) =>
          prev.status === 'ok' ? { status: 'ok', data: prev.data, error: message } : { status: 'error', error: message, code },
        );
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
