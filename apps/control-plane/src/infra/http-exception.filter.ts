import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { AppError } from '../errors.js';
import type { Logger } from './logger.js';

const CODE_BY_STATUS: Record<number, string> = { 400: 'invalid_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 413: 'payload_too_large', 503: 'unavailable' };

/** Translates every error once, at the HTTP edge, into `{ error: { code, message } }`. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(e: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (e instanceof AppError) {
      res.status(e.status).json({ error: { code: e.code, message: e.message } });
      return;
    }
    if (e instanceof HttpException) {
      const status = e.getStatus();
      const message = status === 413 ? 'the upload is larger than MAX_UPLOAD_MB allows' : e.message;
      res.status(status).json({ error: { code: CODE_BY_STATUS[status] ?? 'error', message } });
      return;
    }
    const msg = e instanceof Error ? e.message : String(e);
    const dbDown = /ECONNREFUSED|Connection terminated|connect ETIMEDOUT|DatabaseNotReachable/i.test(msg);
    this.log.error('request failed', { error: msg });
    res
      .status(dbDown ? 503 : 500)
      .json({ error: { code: dbDown ? 'unavailable' : 'internal', message: dbDown ? 'the database is not reachable' : 'internal error' } });
  }
}
