import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { procUsage, processesNamed } from '@edge-fleet/test-utils';
import pg from 'pg';
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

/**
 * CPU of a changing set of processes, tracked per pid and sampled every 250 ms, so a process that
 * ends during the measurement keeps what it used until its last sample (summing the live set at
 * the start and the end alone loses it, and can even come out negative).
 */
class PidCpuTracker {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly groupOf = new Map<number, string>();
  private readonly start = Date.now();
  private readonly timer: NodeJS.Timeout;
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly pids: () => Promise<Map<number, string>> | Map<number, string>) {
    this.pending = this.sample();
    this.timer = setInterval(() => {
      this.pending = this.pending.then(() => this.sample());
    }, 250);
  }

  private async sample(): Promise<void> {
    let set: Map<number, string>;
    try {
      set = await this.pids();
    } catch {
      return;
    }
    for (const [pid, group] of set) {
      try {
        const cpu = procUsage(pid).cpuSeconds;
        if (!this.first.has(pid)) this.first.set(pid, cpu);
        this.last.set(pid, cpu);
        this.groupOf.set(pid, group);
      } catch {
        // it ended meanwhile: its last sample stands
      }
    }
  }

  /** Cores in use per group since construction. */
  async finish(): Promise<Record<string, number>> {
    clearInterval(this.timer);
    await this.pending;
    await this.sample();
    const s = Math.max(0.001, (Date.now() - this.start) / 1000);
    const out: Record<string, number> = {};
    for (const [pid, group] of this.groupOf) out[group] = (out[group] ?? 0) + ((this.last.get(pid) ?? 0) - (this.first.get(pid) ?? 0)) / s;
    return out;
  }
}

/** CPU (cores in use) of every process with one of these command names (e.g. all postgres backends). */
export class CommSampler {
  private readonly tracker: PidCpuTracker;

  constructor(private readonly names: readonly string[]) {
    this.tracker = new PidCpuTracker(() => processesNamed(names));
  }

  async finish(): Promise<Record<string, number>> {
    const cores = await this.tracker.finish();
    return Object.fromEntries(this.names.map((n) => [n, cores[n] ?? 0]));
  }
}

/**
 * CPU of the Postgres processes that serve one database: its backends (from pg_stat_activity),
 * plus the server's shared background processes (WAL writer, checkpointer, background writer),
 * which on a machine shared with other databases also work for them (say so where it matters).
 */
export class PostgresSampler {
  private readonly tracker: PidCpuTracker;
  private readonly client: pg.Client;

  constructor(dbUrl: string) {
    this.client = new pg.Client({ connectionString: dbUrl });
    const connected = this.client.connect();
    this.tracker = new PidCpuTracker(async () => {
      await connected;
      const r = await this.client.query<{ pid: number; kind: string }>(
        `SELECT pid, CASE WHEN datname = current_database() THEN 'backends' ELSE 'background' END AS kind
           FROM pg_stat_activity
          WHERE pid <> pg_backend_pid()
            AND (datname = current_database() OR backend_type IN ('walwriter', 'checkpointer', 'background writer'))`,
      );
      return new Map(r.rows.map((row) => [row.pid, row.kind]));
    });
  }

  /** Cores: `backends` (this database's connections) and `background` (shared writers). */
  async finish(): Promise<{ backends: number; background: number }> {
    const cores = await this.tracker.finish();
    await this.client.end().catch(() => undefined);
    return { backends: cores.backends ?? 0, background: cores.background ?? 0 };
  }
}
