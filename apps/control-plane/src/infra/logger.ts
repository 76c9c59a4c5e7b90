type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** One JSON line per event on stdout; fields carry ids, never secrets. */
export class Logger {
  constructor(
    private readonly component: string,
    private readonly minLevel: Level = 'info',
  ) {}

  child(component: string): Logger {
    return new Logger(component, this.minLevel);
  }

  debug(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields: Record<string, unknown> = {}): void {
    this.write('error', msg, fields);
  }

  private write(level: Level, msg: string, fields: Record<string, unknown>): void {
    if (ORDER[level] < ORDER[this.minLevel]) return;
    const line = JSON.stringify({ t: new Date().toISOString(), level, component: this.component, msg, ...fields });
    process.stdout.write(`${line}\n`);
  }
}
