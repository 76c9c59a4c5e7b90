/** How often live views ask again (TanStack Query's `refetchInterval`); a poll never overlaps the previous one. */
export const POLL_INTERVAL_MS = 2_000;
