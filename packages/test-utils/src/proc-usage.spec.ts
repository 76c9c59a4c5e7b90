import { describe, expect, it } from 'vitest';
import { cpuSecondsNamed, procUsage, processesNamed } from './proc-usage.js';

describe('procUsage', () => {
  it('reads a process CPU time, which grows while it computes, and its resident memory', () => {
    const before = procUsage(process.pid);
    const until = Date.now() + 150;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    const after = procUsage(process.pid);
    expect(x).toBeGreaterThan(0);
    expect(after.cpuSeconds - before.cpuSeconds).toBeGreaterThanOrEqual(0.05);
    expect(after.rssMb).toBeGreaterThan(10);
  });

  it('finds processes by command name and sums their CPU time', () => {
    const comm = [...processesNamed(['node', 'MainThread'])].find(([pid]) => pid === process.pid)?.[1];
    expect(comm).toBeDefined();
    expect(cpuSecondsNamed(comm ?? '')).toBeGreaterThanOrEqual(procUsage(process.pid).cpuSeconds);
    expect(processesNamed(['no-such-command-name']).size).toBe(0);
  });
});
