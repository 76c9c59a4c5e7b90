import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('returns the first truthy value the poll gives, sync or async', async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? n : null), 1_000, 'three polls', { intervalMs: 5 })).toBe(3);
    expect(await waitFor(() => Promise.resolve('ready'), 1_000)).toBe('ready');
  });

  it('times out naming what it waited for, with the detail', async () => {
    await expect(waitFor(() => false, 50, 'the moon', { intervalMs: 10, detail: () => 'log tail' })).rejects.toThrow(
      'timed out waiting for the moon\nlog tail',
    );
  });

  it('fails on a throwing poll unless told to retry it', async () => {
    await expect(waitFor(() => Promise.reject(new Error('boom')), 1_000)).rejects.toThrow('boom');
    let n = 0;
    const flaky = (): Promise<string> => (++n < 3 ? Promise.reject(new Error('not up')) : Promise.resolve('up'));
    expect(await waitFor(flaky, 1_000, 'a server', { intervalMs: 5, retryErrors: true })).toBe('up');
  });
});
