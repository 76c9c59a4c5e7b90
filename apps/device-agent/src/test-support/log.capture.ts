import { createLogger, type Logger, type LogLevel } from '../core/logger.js';

/** A logger at `level` whose JSON lines a test reads back from `logs`, in order. */
export function captureLogs<T extends object = Record<string, unknown>>(level: LogLevel): { logger: Logger; logs: T[] } {
  const logs: T[] = [];
  return { logger: createLogger(level, (line) => logs.push(JSON.parse(line) as T)), logs };
}
