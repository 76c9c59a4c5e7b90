import { runOrExit } from './bootstrap/run-process.js';

/** Entry point of an api replica: HTTP, tRPC, broker or broker subscription, ingest, desired-state publishing. */
runOrExit('api');
