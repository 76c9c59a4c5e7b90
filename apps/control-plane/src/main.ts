import { runOrExit } from './bootstrap/run-process.js';

/** Entry point for the zero-setup start: api and worker in one process (see bootstrap/run-process.ts). */
runOrExit('main');
