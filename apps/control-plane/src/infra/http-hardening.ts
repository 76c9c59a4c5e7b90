import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_TRPC_BATCH } from '@edge-fleet/shared/api';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

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
    const message = `a tRPC batch may call at most ${max} procedures; this one calls ${count}`;
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message, code: -32600, data: { code: 'BAD_REQUEST', httpStatus: 400 } } }));
  };
}
