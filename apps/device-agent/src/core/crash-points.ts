import { z } from 'zod';

/**
 * Where `FLEET_AGENT_CRASH_AT` kills the agent so tests can check that every step of an update
 * survives a crash (RELIABILITY.md rows 2 and 3), and that a model whose runtime crashes is left (row 4).
 */
export const CrashPointSchema = z.enum([
  'mid-download',
  'after-download',
  'after-verify',
  'during-vetting',
  'after-load',
  'before-swap',
  'after-swap-before-persist',
  'after-persist-before-report',
  // not an update step: the serving runtime of a model on probation dies (a native crash in
  // onnxruntime kills the whole process), at activation and at every restart with it (row 4)
  'serving-on-probation',
]);
export type CrashPoint = z.infer<typeof CrashPointSchema>;

/**
 * Dies like `kill -9` (shell status 137): no exit handlers, no flush, no Last-Will-free goodbye.
 * Not `process.exit(137)`: with an onnxruntime session mid-run in the worker thread, exit-time
 * teardown aborts the process (SIGABRT, "terminate called after throwing an instance of
 * 'Napi::Error'"), which would make the crash point itself flaky.
 */
export function crashNow(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered before this line runs; the exit only satisfies the type checker.
  process.exit(137);
}
