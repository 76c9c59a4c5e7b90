import { runOrExit } from './bootstrap/run-process.js';

/** Entry point of a worker replica: BullMQ processors and job schedulers. */
runOrExit('worker');
