import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { AppError, UPLOAD_TOO_LARGE } from '../errors.js';
import type { DatabaseBreaker } from './database-breaker.js';
import type { Logger } from './logger.js';
import { databaseUnavailable } from './pg-errors.js';

const CODE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
  503: 'unavailable',
};

/** Translates every error once, at the HTTP edge, into `{ error: { code, message } }`. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  constructor(
    private readonly log: Logger,
    private readonly breaker?: DatabaseBreaker,
  ) {}

  catch(e: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    // answered already (an upload cut at its limit): the parser's late error has nothing left to say
    if (res.headersSent) return;
    if (e instanceof AppError) {
      res.status(e.status).json({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
      return;
    }
    if (e instanceof HttpException) {
      const status = e.getStatus();
      const parsed = status === 413 ? parserLimitOf(e) : null;
      const message = status !== 413 ? e.message : parsed === null ? UPLOAD_TOO_LARGE : bodyTooLarge(parsed);
      // an upload cut at its limit: closing the connection stops the server reading the rest (multer
      // would drain it); a JSON or text body over its limit was read to its end, the connection stays
      if (status === 413 && parsed === null) res.set('Connection', 'close');
      res.status(status).json({ error: { code: CODE_BY_STATUS[status] ?? 'error', message } });
      return;
    }
    const msg = e instanceof Error ? e.message : String(e);
    const unavailable = databaseUnavailable(e);
    if (unavailable) this.breaker?.tripped(msg);
    // named from the response: a read runs outside the request context (see requestLogging)
    const reqId = res.getHeader('x-request-id');
    this.log.error('request failed', { error: msg, ...(typeof reqId === 'string' ? { reqId } : {}) });
    if (unavailable)
      res
        .status(503)
        .set('Retry-After', '1')
        .json({ error: { code: unavailable.code, message: unavailable.message } });
    else res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  }
}

/**
 * The limit of a 413 from the app's JSON or text parser (body-parser's error, the cause: it read
 * the body to its end), or null for any other 413: a model upload over MAX_UPLOAD_MB (multer's file
 * limit, the upload cut mid-stream).
 */
function parserLimitOf(e: HttpException): number | null {
  const cause = e.cause as { type?: unknown; limit?: unknown } | undefined;
  return cause?.type === 'entity.too.large' && typeof cause.limit === 'number' ? cause.limit : null;
}

const bodyTooLarge = (limit: number) => `the request body is larger than ${limit} bytes, the API's limit for a JSON or text body`;
