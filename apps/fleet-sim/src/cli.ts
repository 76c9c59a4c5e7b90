#!/usr/bin/env node
import { parseSimArgs } from './cli/cli-args.js';
import { runFleet } from './sim/run-fleet.js';

const log = (msg: string): void => {
  process.stdout.write(`${new Date().toISOString()} fleet-sim ${msg}\n`);
};

const args = parseSimArgs(process.argv.slice(2));
if (!args.ok) {
  process.stderr.write(`${args.message}\n`);
  process.exit(2);
}
runFleet(args.value, log).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`fleet-sim failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
