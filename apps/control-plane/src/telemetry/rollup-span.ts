import { bucketStartOf } from './telemetry-rollup.js';
import { startedAfter, startedBefore } from './window-span.js';

const HOUR_S = 3_600;

/**
 * How a read of the windows that ended after `since` splits between the hourly rollups and the raw
 * windows, so that its sums are the raw sums. A rollup counts a window in the bucket its start falls
 * in, so the rule is by `windowStart`, against `wholeFrom`, the first hour boundary after `since`:
 * - a window that started at or after `wholeFrom` ended after `since` too: it is in the hourly
 *   rollups from `wholeFrom` on, once folded;
 * - a window that started before `wholeFrom` (and after `startedBefore`: window-span.ts) and ended
 *   after `since` is read raw. If folded, it is in an hourly rollup of [`edgeFrom`, `wholeFrom`)
 *   whose `lastWindowEnd` is after `since`, so the largest such `lastWindowEnd` bounds the raw read's
 *   `windowEnd` range (with the usual short windows: an hour or two of a device's windows);
 * - a window still in TelemetryRollupPending (not folded yet) is read raw, whenever it started
 *   (before `startedBefore`: no stored window starts later, window-span.ts).
 * Rollup rows, pending rows and raw windows are read in one statement, one snapshot: the fold moves
 * a window from pending to the rollups in one transaction, so each is counted exactly once.
 */
export interface RollupSplit {
  since: Date;
  /** The day partitions to read: window-span.ts. */
  startedAfter: Date;
  wholeFrom: Date;
  edgeFrom: Date;
  /** No stored window starts at or after it (window-span.ts): the day partitions created ahead are not read. */
  startedBefore: Date;
}

export function rollupSplit(since: Date, now = new Date()): RollupSplit {
  const started = startedAfter(since);
  return {
    since,
    startedAfter: started,
    wholeFrom: new Date(bucketStartOf(since, HOUR_S).getTime() + HOUR_S * 1_000),
    edgeFrom: bucketStartOf(started, HOUR_S),
    startedBefore: startedBefore(now),
  };
}
