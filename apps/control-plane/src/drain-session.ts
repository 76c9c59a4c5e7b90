import { drainSession } from './bootstrap/drain-session.js';

/** Entry point of `drain-session <client-id>` (see bootstrap/drain-session.ts). */
drainSession(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`drain-session failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
