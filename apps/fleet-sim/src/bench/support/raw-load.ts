import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const Ready = z.object({ type: z.literal('ready'), connected: z.number(), refused: z.number() });
const Stats = z.object({
  type: z.enum(['stats', 'stopped']),
  sent: z.number(),
  dropped: z.number(),
  acked: z.number(),
  cpuSeconds: z.number(),
});
export type RawLoadStats = Omit<z.infer<typeof Stats>, 'type'>;

/** The compiled child (under vitest this module runs from src, so point at the build output). */
function publisherUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../../dist/bench/raw-publisher.js', here) : new URL('../raw-publisher.js', here);
}

/**
 * The low-CPU ingest load generator: `processes` child processes (raw-publisher.ts), each holding a
 * share of the devices on raw sockets and publishing its share of `ratePerSecond`.
 */
export class RawLoad {
  private constructor(private readonly children: ChildProcess[]) {}

  static async start(o: {
    host: string;
    port: number;
    devices: { deviceId: string; deviceSecret: string }[];
    ratePerSecond: number;
    processes: number;
  }): Promise<{ load: RawLoad; connected: number; refused: number }> {
    const n = Math.max(1, Math.min(o.processes, o.devices.length));
    const children = Array.from({ length: n }, () =>
      fork(fileURLToPath(publisherUrl()), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    const ready = await Promise.all(
      children.map((child, i) => {
        const devices = o.devices.filter((_, k) => k % n === i);
        const answer = next(child, Ready);
        child.send({
          type: 'init',
          host: o.host,
          port: o.port,
          devices,
          ratePerSecond: (o.ratePerSecond * devices.length) / o.devices.length,
        });
        return answer;
      }),
    );
    return {
      load: new RawLoad(children),
      connected: ready.reduce((s, r) => s + r.connected, 0),
      refused: ready.reduce((s, r) => s + r.refused, 0),
    };
  }

  go(): void {
    for (const c of this.children) c.send({ type: 'go' });
  }

  /** Sent, dropped (a socket not drained), PUBACKed and the generator's own CPU seconds, summed. */
  async stats(): Promise<RawLoadStats> {
    return sum(await Promise.all(this.children.map((c) => ask(c, 'stats'))));
  }

  async stop(): Promise<RawLoadStats> {
    return sum(await Promise.all(this.children.map((c) => ask(c, 'stop'))));
  }
}

function next<T>(child: ChildProcess, schema: z.ZodType<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (m: unknown) => {
      const parsed = schema.safeParse(m);
      if (parsed.success) resolve(parsed.data);
      else reject(new Error(`raw publisher said ${JSON.stringify(m)}`));
    });
  });
}

function ask(child: ChildProcess, type: 'stats' | 'stop'): Promise<RawLoadStats> {
  const answer = next(child, Stats);
  child.send({ type });
  return answer;
}

function sum(all: RawLoadStats[]): RawLoadStats {
  return all.reduce(
    (s, x) => ({
      sent: s.sent + x.sent,
      dropped: s.dropped + x.dropped,
      acked: s.acked + x.acked,
      cpuSeconds: s.cpuSeconds + x.cpuSeconds,
    }),
    {
      sent: 0,
      dropped: 0,
      acked: 0,
      cpuSeconds: 0,
    },
  );
}
