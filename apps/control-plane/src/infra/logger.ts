import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { LoggerService } from '@nestjs/common';
import { pino, stdTimeFunctions, type DestinationStream, type Logger as Pino, type LoggerOptions } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** Keys whose values never reach a log line, at the top level or one object down. */
const SECRET_KEYS = new Set(['secret', 'password', 'token', 'authorization', 'operatorToken', 'cookie']);
const CENSORED = '[redacted]';

/** A line larger than the buffer stdout has not taken yet is dropped rather than held: memory stays bounded when stdout stalls. */
const STDOUT_BUFFER_MAX = 16 * 1024 * 1024;

/** A caller-chosen request id is kept when it is short and plain; otherwise we make one. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The one logger of the control plane: pino, one JSON line per event on stdout, fields carrying
 * ids and never secrets. Inside an HTTP request every line carries the request's `reqId` (from
 * `requestLogging`'s request context), so a failed request can be followed through the services it
 * called. `component` names the part of the system that speaks.
 */
export class Logger {
  /** The process's pino, without a component: every Logger of the process is a child of it. */
  readonly root: Pino;
  private readonly pino: Pino;

  constructor(component: string, level: Level = 'info', root?: Pino) {
    this.root = root ?? createRootPino(level);
    this.pino = this.root.child({ component });
  }

  child(component: string): Logger {
    return new Logger(component, this.root.level as Level, this.root);
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
    if (!this.pino.isLevelEnabled(level)) return;
    const reqId = requestId();
    const clean = scrub(fields);
    this.pino[level](reqId === undefined ? clean : { reqId, ...clean }, msg);
  }
}

/** The root pino of a process (or of a test that reads its lines from `destination`). */
export function createRootPino(level: Level, destination?: DestinationStream): Pino {
  const options: LoggerOptions = {
    level,
    messageKey: 'msg',
    timestamp: stdTimeFunctions.isoTime,
    // `level` as its name ("warn"), as the lines were before pino, so existing log queries keep working
    formatters: { level: (label) => ({ level: label }) },
    base: undefined,
  };
  // stdout written asynchronously: a line costs the event loop its formatting, not a blocking
  // write() per line (half the cost per line, measured), and lines written in one turn leave in one
  // write; what is still buffered is flushed when the process exits
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false, minLength: 0, maxLength: STDOUT_BUFFER_MAX }));
}

/**
 * The fields with every secret-named value replaced, at the top level and one object down. A scan
 * of a few keys instead of pino's path redaction, which cost 3.3 µs a line here: a line without a
 * secret (nearly all of them) is passed on as it is.
 */
function scrub(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const key in fields) {
    const value = fields[key];
    if (SECRET_KEYS.has(key)) {
      out ??= { ...fields };
      out[key] = CENSORED;
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Error)) {
      const inner = value as Record<string, unknown>;
      for (const k in inner)
        if (SECRET_KEYS.has(k)) {
          out ??= { ...fields };
          out[key] = { ...(out[key] as Record<string, unknown>), [k]: CENSORED };
        }
    }
  }
  return out ?? fields;
}

/** The id of the HTTP request the current async chain serves, set by `requestLogging`. */
const requestContext = new AsyncLocalStorage<string>();

function requestId(): string | undefined {
  return requestContext.getStore();
}

/** Paths scraped or probed every few seconds: no request line for them. */
const UNLOGGED = new Set(['/metrics', '/readyz']);

/**
 * The first middleware of the HTTP server: gives each request an id (the caller's `X-Request-Id`
 * when it is plain, else a UUID), echoes it in the response, runs the rest of the request inside
 * its context so every log line written for it carries `reqId`, and writes one `request completed`
 * line when the response is sent: 5xx at error, 401/403/429 at warn, other 4xx and successful reads
 * at debug (dashboards poll every second), changes at info. A level that is off costs no line.
 */
export function requestLogging(log: Logger): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const http = log.root.child({ component: 'http' });
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', id);
    const url = req.url ?? '';
    const path = url.split('?', 1)[0] ?? '';
    if (!UNLOGGED.has(path)) {
      const start = performance.now();
      res.once('close', () => {
        const status = res.statusCode;
        const level = !res.writableFinished ? 'info' : requestLevel(req.method, url, status);
        if (!http.isLevelEnabled(level)) return;
        http[level](
          { reqId: id, req: { method: req.method, url }, res: { statusCode: status }, responseTime: Math.round(performance.now() - start) },
          res.writableFinished ? 'request completed' : 'request aborted before the response was sent',
        );
      });
    }
    if (READS.has(req.method ?? '')) return next();
    // a change runs inside its request's context, so every line its services write names it
    contexts += 1;
    res.once('close', leaveContext);
    requestContext.run(id, next);
  };
}

/**
 * On Node 20 an enabled AsyncLocalStorage installs promise hooks that every promise of the process
 * then pays for: measured on bench:api's 404 floor, 3.6–4.3k req/s with the context on every request
 * against 4.2–4.4k without. Reads (nearly all requests: dashboards poll) log nothing of their own but
 * their request line, which names the request anyway; so only changes run in a context, and the
 * context is switched off whenever no change is in flight. (Node ≥ 22's AsyncContextFrame makes
 * this unnecessary.)
 */
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
let contexts = 0;

function leaveContext(): void {
  contexts -= 1;
  if (contexts === 0) requestContext.disable();
}

function requestLevel(method: string | undefined, url: string, status: number): Level {
  if (status >= 500) return 'error';
  // refused credentials and rate limits matter to an operator; any other 4xx is the caller's
  // mistake, and at info a client sending bad requests would turn each into a log write
  if (status === 401 || status === 403 || status === 429) return 'warn';
  if (status >= 400) return 'debug';
  return method === 'GET' || method === 'HEAD' || url.startsWith('/trpc/') ? 'debug' : 'info';
}

/**
 * Nest's own messages (module wiring, route mapping, its exceptions) through the same pino output,
 * as component `nest`: its routine chatter at debug, its warnings and errors as such.
 */
export class NestLogs implements LoggerService {
  private readonly out: Logger;

  constructor(log: Logger) {
    this.out = log.child('nest');
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.out.debug(text(message), context(rest));
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.out.warn(text(message), context(rest));
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.out.error(text(message), context(rest));
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.out.debug(text(message), context(rest));
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.out.debug(text(message), context(rest));
  }
}

function text(message: unknown): string {
  return message instanceof Error ? message.message : typeof message === 'string' ? message : JSON.stringify(message);
}

/** Nest passes its context (the class speaking) last, and a stack before it for errors. */
function context(rest: unknown[]): Record<string, unknown> {
  const strings = rest.filter((r): r is string => typeof r === 'string');
  const ctx = strings.at(-1);
  const stack = strings.length > 1 ? strings[0] : undefined;
  return { ...(ctx ? { context: ctx } : {}), ...(stack ? { stack } : {}) };
}

/** Whether a line may be written now, and how many lines of its kind were held back before it. */
export interface LogAdmission {
  write: boolean;
  /** Lines of this key not written since the last one that was: say so in the line that is. */
  suppressed: number;
}

/**
 * Limits how often a kind of line is written: at most `perKey` lines per key (a device id) and
 * `total` lines in all per `windowMs`, so one device sending garbage, or ten thousand doing it at
 * once, cannot turn into a log flood that costs the event loop every other device's messages.
 * The line that is written next carries the count of those that were not.
 */
export class LogThrottle {
  private windowStart = 0;
  private written = 0;
  private readonly keys = new Map<string, { written: number; suppressed: number }>();

  constructor(
    private readonly perKey = 5,
    private readonly total = 100,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  admit(key: string, now = Date.now()): LogAdmission {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.written = 0;
      // the counts of held-back lines outlive the window, so the next line of that key reports them
      for (const [k, v] of this.keys) {
        if (v.suppressed === 0) this.keys.delete(k);
        else v.written = 0;
      }
    }
    let entry = this.keys.get(key);
    if (entry === undefined) {
      if (this.keys.size >= this.maxKeys) this.keys.clear();
      entry = { written: 0, suppressed: 0 };
      this.keys.set(key, entry);
    }
    if (entry.written >= this.perKey || this.written >= this.total) {
      entry.suppressed += 1;
      return { write: false, suppressed: entry.suppressed };
    }
    entry.written += 1;
    this.written += 1;
    const suppressed = entry.suppressed;
    entry.suppressed = 0;
    return { write: true, suppressed };
  }
}

/** A logger for lines a remote party can cause at will (a device's bad messages): rate-limited per key. */
export class RateLimitedLog {
  constructor(
    private readonly log: Logger,
    private readonly throttle = new LogThrottle(),
  ) {}

  info(key: string, msg: string, fields: Record<string, unknown>): void {
    this.write('info', key, msg, fields);
  }

  warn(key: string, msg: string, fields: Record<string, unknown>): void {
    this.write('warn', key, msg, fields);
  }

  error(key: string, msg: string, fields: Record<string, unknown>): void {
    this.write('error', key, msg, fields);
  }

  private write(level: 'info' | 'warn' | 'error', key: string, msg: string, fields: Record<string, unknown>): void {
    const admitted = this.throttle.admit(key);
    if (admitted.write) this.log[level](msg, admitted.suppressed > 0 ? { ...fields, notLoggedBefore: admitted.suppressed } : fields);
  }
}
