import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc counts CPU time in these ticks a second. */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) and RSS of a process, from /proc: the one reader every benchmark uses. */
export function procUsage(pid: number): { cpuSeconds: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name, which may contain spaces: utime and stime are fields 14 and 15
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuSeconds: ticks / TICKS_PER_SECOND, rssMb: rssKb / 1024 };
}

/** The processes whose command name is one of `names` (e.g. every postgres backend), by pid. */
export function processesNamed(names: readonly string[]): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (names.includes(comm)) found.set(Number(entry), comm);
    } catch {
      // the process ended meanwhile
    }
  }
  return found;
}

/** CPU seconds (user + system) of every process named `name` now; one that ends meanwhile is left out. */
export function cpuSecondsNamed(name: string): number {
  let total = 0;
  for (const pid of processesNamed([name]).keys()) {
    try {
      total += procUsage(pid).cpuSeconds;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}
