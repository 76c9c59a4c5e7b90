#!/usr/bin/env -S node --max-semi-space-size=1
import { randomInt } from 'node:crypto';
import { DeviceAgent } from './agent.js';
import { parseCliArgs, serveConfigFrom } from './cli/cli-args.parser.js';
import { ensureEnrolled } from './cli/enrollment.bootstrap.js';
import { createLogger, errorMessage } from './core/logger.js';
import { EnrollmentError } from './enrollment/enrollment.client.js';

async function main(argv: readonly string[]): Promise<number> {
  const args = parseCliArgs(argv, process.env);
  if (!args.ok) {
    process.stderr.write(`fleet-agent: ${args.message}\n`);
    return 2;
  }
  const serve = serveConfigFrom(args.value);
  if (!serve.ok) {
    process.stderr.write(`fleet-agent: ${serve.message}\n`);
    return 2;
  }
  const logger = createLogger(args.value.logLevel);
  let creds;
  try {
    creds = await ensureEnrolled(args.value, logger);
  } catch (err) {
    const message = err instanceof EnrollmentError ? err.message : `enrollment failed: ${errorMessage(err)}`;
    logger.error(message);
    process.stderr.write(`fleet-agent: ${message}\n`);
    return 1;
  }
  if (!creds.ok) {
    logger.error(creds.message);
    process.stderr.write(`fleet-agent: ${creds.message}\n`);
    return 2;
  }
  const seed = args.value.seed ?? randomInt(2 ** 31);
  const agent = new DeviceAgent({
    dataDir: args.value.dataDir,
    credentials: creds.value,
    logger,
    seed,
    ...(args.value.mqttUrl !== undefined ? { mqttUrl: args.value.mqttUrl } : {}),
    ...(args.value.crashAt !== undefined ? { crashAt: args.value.crashAt } : {}),
    download: { stallTimeoutMs: args.value.downloadStallTimeoutS * 1000, deadlineMs: args.value.downloadDeadlineS * 1000 },
    watchdog: { windows: args.value.watchdogWindows, breachesToRollback: args.value.watchdogBreaches },
    serve: serve.value,
    ...(args.value.servePublicUrl !== undefined ? { inferenceUrl: args.value.servePublicUrl } : {}),
    probe: args.value.probe,
    ...(args.value.injectLatencyMs === undefined
      ? {}
      : { injectLatency: { latencyMs: args.value.injectLatencyMs, afterMs: args.value.injectLatencyAfterS * 1_000 } }),
    outbox: { maxBytes: Math.round(args.value.outboxMaxMb * 1024 * 1024), maxAgeMs: Math.round(args.value.outboxMaxAgeHours * 3_600_000) },
  });
  await agent.start();
  await waitForSignal();
  await agent.stop();
  return 0;
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fleet-agent: fatal: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);
