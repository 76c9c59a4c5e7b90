/**
 * No stored window spans more than a day: the ingest refuses a window longer than
 * TELEMETRY_MAX_WINDOW_SECONDS, which the config caps at 86,400 s, and one that ends before it
 * starts. So a window that ended after `t` started after `t - 1 day`, and a read of windows by their
 * end can name the day partitions (by `windowStart`) it needs.
 */
export const WINDOW_SPAN_MAX_MS = 86_400_000;

/**
 * The `windowStart` bound of the windows that ended after `endedAfter`. Pass it as a query parameter
 * (never `$x - interval '1 day'` in SQL, which is only stable): then Postgres prunes the day
 * partitions when it plans, and does not even lock the others, so a read never waits on (or holds
 * up) the retention job's drop of an old day.
 */
export function startedAfter(endedAfter: Date): Date {
  return new Date(endedAfter.getTime() - WINDOW_SPAN_MAX_MS);
}
