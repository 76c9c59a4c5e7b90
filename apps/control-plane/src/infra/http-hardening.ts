import type { IncomingMessage, ServerResponse } from 'node:http';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { MAX_TRPC_BATCH } from '@edge-fleet/shared/api';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** The largest JSON or text body the API parses, and the largest other body the tRPC handler reads (1 MiB). */
export const API_BODY_MAX = 1024 * 1024;

/**
 * Headers on every API response: nothing it answers is a page to render, frame or sniff as another
 * type, and no URL of it leaks to another site through Referer.
 */
export function securityHeaders(): Middleware {
  return (_req, res, next) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'no-referrer');
    next();
  };
}

/** Refuses a tRPC batch of more than `max` procedures with 400 before any of them runs, in tRPC's error shape. */
export function trpcBatchLimit(max = MAX_TRPC_BATCH): Middleware {
  return (req, res, next) => {
    const names = (req.url ?? '').replace(/^\//, '').split('?', 1)[0] ?? '';
    const count = names === '' ? 0 : names.split(',').length;
    if (count <= max) return next();
    writeTrpcError(
      res,
      new TRPCError({ code: 'BAD_REQUEST', message: `a tRPC batch may call at most ${max} procedures; this one calls ${count}` }),
    );
  };
}

/** Answers a request refused before tRPC ran it with the error in tRPC's shape (what its client reads). */
export function writeTrpcError(res: ServerResponse, error: TRPCError): void {
  const httpStatus = getHTTPStatusCodeFromError(error);
  res.writeHead(httpStatus, { 'content-type': 'application/json' });
  const data = { code: error.code, httpStatus };
  res.end(JSON.stringify({ error: { message: error.message, code: TRPC_ERROR_CODES_BY_KEY[error.code], data } }));
}
