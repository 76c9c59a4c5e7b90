import { cpus } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { withoutLeadingDashDash } from '../../cli/cli-args.js';

/** The machine line every benchmark prints first, so figures are never read without it. */
export function machineLine(): string {
  const c = cpus();
  return `machine: ${c[0]?.model.trim() ?? 'unknown CPU'}, ${c.length} cores, Node ${process.version}, ${process.platform}`;
}

export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

/** Parses --flags with a zod schema (values arrive as strings; the schema coerces); exits 2 naming the bad flag. */
export function benchArgs<S extends z.ZodObject>(schema: S, usage: string): z.infer<S> {
  let values: Record<string, string | undefined>;
  const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  try {
    const options = Object.fromEntries(Object.keys(schema.shape).map((k) => [kebab(k), { type: 'string' as const }]));
    values = parseArgs({ args: withoutLeadingDashDash(process.argv.slice(2)), strict: true, allowPositionals: false, options }).values;
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${usage}\n`);
    process.exit(2);
  }
  const camel = Object.fromEntries(Object.entries(values).map(([k, v]) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
  const r = schema.safeParse(camel);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `--${kebab(String(i.path[0] ?? ''))}: ${i.message}`);
    process.stderr.write(`${lines.join('\n')}\n${usage}\n`);
    process.exit(2);
  }
  return r.data;
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
export function procUsage(pid: number): { cpuSeconds: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name, which may contain spaces: utime and stime are fields 14 and 15
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssMb: rssKb / 1024 };
}

/** Samples a process's CPU (as cores in use) and peak RSS over an interval. */
export class ProcSampler {
  private start: { cpuSeconds: number; at: number };
  peakRssMb = 0;
  private timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.start = { cpuSeconds: procUsage(pid).cpuSeconds, at: Date.now() };
    this.timer = setInterval(() => this.sample(), 500);
  }

  private sample(): void {
    try {
      this.peakRssMb = Math.max(this.peakRssMb, procUsage(this.pid).rssMb);
    } catch {
      // the process is gone
    }
  }

  /** Average cores used since construction, and peak RSS. */
  finish(): { cores: number; peakRssMb: number } {
    clearInterval(this.timer);
    this.sample();
    const now = procUsage(this.pid);
    return {
      cores: (now.cpuSeconds - this.start.cpuSeconds) / Math.max(0.001, (Date.now() - this.start.at) / 1000),
      peakRssMb: this.peakRssMb,
    };
  }
}

function cpuOfComm(names: readonly string[]): Record<string, number> {
  const totals: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (names.includes(comm)) totals[comm] = (totals[comm] ?? 0) + procUsage(Number(entry)).cpuSeconds;
    } catch {
      // the process ended meanwhile
    }
  }
  return totals;
}

/** CPU (cores in use) of every process with one of these command names (e.g. all postgres backends). */
export class CommSampler {
  private readonly start = Date.now();
  private readonly before: Record<string, number>;

  constructor(private readonly names: readonly string[]) {
    this.before = cpuOfComm(names);
  }

  finish(): Record<string, number> {
    const now = cpuOfComm(this.names);
    const s = Math.max(0.001, (Date.now() - this.start) / 1000);
    return Object.fromEntries(this.names.map((n) => [n, ((now[n] ?? 0) - (this.before[n] ?? 0)) / s]));
  }
}
