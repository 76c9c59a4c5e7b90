import { describe, expect, it } from 'vitest';
import { startNodeProcess } from './child-process.js';
import { waitFor } from './wait-for.js';

describe('startNodeProcess', () => {
  it('keeps what the process writes and passes it the environment', async () => {
    const p = startNodeProcess(['-e', 'console.log("hello", process.env.GREETING); console.error("on stderr")'], {
      env: { GREETING: 'there' },
    });
    await waitFor(() => p.child.exitCode !== null, 10_000, 'exit');
    expect(p.output()).toContain('hello there');
    expect(p.output()).toContain('on stderr');
    await p.stop();
  });

  it('gives what was written after a mark, also once older output was let go', async () => {
    const p = startNodeProcess(['-e', 'console.log("a".repeat(50)); setTimeout(() => console.log("after-mark"), 300)'], { keepChars: 40 });
    await waitFor(() => p.output().includes('a'), 10_000, 'first line');
    const mark = p.mark();
    await waitFor(() => p.child.exitCode !== null, 10_000, 'exit');
    expect(p.outputSince(mark)).toBe('after-mark\n');
    expect(p.output().length).toBeLessThanOrEqual(40);
  });

  it('stops with SIGTERM, and with SIGKILL a process that ignores it', async () => {
    const p = startNodeProcess(
      ['-e', 'process.on("SIGTERM", () => console.log("ignored")); console.log("up"); setInterval(() => {}, 1000)'],
      {
        killAfterMs: 300,
      },
    );
    await waitFor(() => p.output().includes('up'), 10_000, 'start');
    await p.stop();
    expect(p.child.signalCode).toBe('SIGKILL');
    expect(p.output()).toContain('ignored');
  });
});
