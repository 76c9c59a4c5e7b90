import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/**
 * The agent's own process entry points for measuring it, as its package exports them
 * (`@edge-fleet/device-agent/bench/*`, built by the agent's build). Apps never import each other's
 * code, so the agent's engine and serving stack run in a child process driven over IPC, which is
 * also what gives each side an RSS of its own.
 */
export type AgentEntry = 'agent-side' | 'serve-side';

/** The file of one entry point (the agent package must be built). */
export function agentEntryPath(entry: AgentEntry): string {
  return createRequire(import.meta.url).resolve(`@edge-fleet/device-agent/bench/${entry}`);
}

/** Starts one entry point with an IPC channel; its stdout and stderr are this process's. */
export function forkAgentEntry(entry: AgentEntry, args: string[], execArgv: string[] = []): ChildProcess {
  return fork(agentEntryPath(entry), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
}
