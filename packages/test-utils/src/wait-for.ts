export interface WaitForOptions {
  /** How long between two polls (default 100 ms). */
  intervalMs?: number;
  /** A poll that throws counts as "not yet" instead of failing the wait (a server still starting). */
  retryErrors?: boolean;
  /** More to say when the wait times out, e.g. a child process's output or a sample of rows. */
  detail?: () => string | Promise<string>;
}

/**
 * Polls `poll` until it gives a truthy value and returns that value; throws `timed out waiting for
 * <what>` after `timeoutMs`. The poll may be synchronous or asynchronous.
 */
export async function waitFor<T>(
  poll: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
  what = 'condition',
  options: WaitForOptions = {},
): Promise<T> {
  const { intervalMs = 100, retryErrors = false, detail } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await poll();
      if (v) return v;
    } catch (err) {
      if (!retryErrors) throw err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `\n${await detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
