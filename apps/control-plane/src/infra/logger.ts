import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LoggerService } from '@nestjs/common';
import { PinoLogger, type Params } from 'nestjs-pino';
import { pino, stdTimeFunctions, type DestinationStream, type Logger as Pino, type LoggerOptions } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** Keys whose values never reach a log line, at the top level or one object down. */
const SECRET_PATHS = ['secret', 'password', 'token', 'authorization', 'operatorToken']
  .flatMap((k) => [k, `*.${k}`])
  .concat(['req.headers.authorization', 'req.headers.cookie']);

/** A caller-chosen request id is kept when it is short and plain; otherwise we make one. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The one logger of the control plane: pino, one JSON line per event on stdout, fields carrying
 * ids and never secrets. Inside an HTTP request every line carries the request's `reqId` (from
 * nestjs-pino's request context), so a failed request can be followed through the services it
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
    this.pino[level](reqId === undefined ? fields : { reqId, ...fields }, msg);
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
    redact: { paths: SECRET_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * nestjs-pino keeps each request's logger in an AsyncLocalStorage; a `PinoLogger` reads it. One
 * instance is enough for the whole process (the request context is per async chain, not per object).
 */
let requestContext: PinoLogger | null = null;

function requestId(): string | undefined {
  const current = requestContext?.logger;
  if (!current) return undefined;
  const id = (current.bindings() as { reqId?: unknown }).reqId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * nestjs-pino's parameters: request logs written through `log`'s pino, a request id per request
 * (the caller's `X-Request-Id` when it is plain, else a UUID) echoed in the response; 5xx at error,
 * 401/403/429 at warn, other 4xx and successful reads at debug (dashboards poll every second),
 * changes at info.
 */
export function httpLogging(log: Logger): Params {
  const params: Params = {
    pinoHttp: {
      logger: log.root.child({ component: 'http' }),
      quietReqLogger: true,
      quietResLogger: true,
      customAttributeKeys: { reqId: 'reqId' },
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      customLogLevel: (req, res, err) => {
        if (err || res.statusCode >= 500) return 'error';
        // refused credentials and rate limits matter to an operator; any other 4xx is the caller's
        // mistake, and at info a client sending bad requests would turn each into a log write
        if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 429) return 'warn';
        if (res.statusCode >= 400) return 'debug';
        return req.method === 'GET' || req.method === 'HEAD' || req.url?.startsWith('/trpc/') === true ? 'debug' : 'info';
      },
      autoLogging: { ignore: (req) => req.url === '/metrics' || req.url === '/readyz' },
      serializers: {
        req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
        // pino-http makes an Error for every 5xx: its message is enough, a stack of pino-http's own frames is noise
        err: (e: { name?: string; message?: string }) => ({ type: e.name, message: e.message }),
      },
    },
  };
  requestContext ??= new PinoLogger(params);
  return params;
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
