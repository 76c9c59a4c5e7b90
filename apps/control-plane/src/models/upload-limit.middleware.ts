import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { UPLOAD_TOO_LARGE } from '../errors.js';

function refuse(res: Response, detail: string): void {
  // `Connection: close` ends the exchange once the 413 is written: the client's remaining bytes are never read
  res
    .status(413)
    .set('Connection', 'close')
    .json({ error: { code: 'payload_too_large', message: `${UPLOAD_TOO_LARGE} (${detail})` } });
}

/**
 * Bounds a model upload's whole request body (file, calibration and fields) to `maxBytes` before
 * multer buffers it. multer alone reads up to its per-file limit, then drains the rest of the body
 * before it answers (a 314 MB upload was read whole before its 413), so:
 * - a declared Content-Length above the limit is refused before any of the body is read;
 * - a body without one (chunked) is counted as the parser reads it and cut when it crosses the
 *   limit: the parser is unpiped, reading stops, and the 413 closes the connection. multer then
 *   sees the request close and releases what it held (HttpErrorFilter skips its late error).
 */
export function limitUploadBody(maxBytes: number): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'POST') return next();
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) return refuse(res, `declared ${declared} bytes, limit ${maxBytes}`);
    let seen = 0;
    const count = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen <= maxBytes) return;
      req.off('data', count);
      req.unpipe();
      req.pause();
      if (!res.headersSent) refuse(res, `more than the limit of ${maxBytes} bytes sent`);
    };
    // counting starts when the body parser starts reading (its pipe adds the first 'data' listener),
    // so no chunk flows before the parser listens
    const attach = (event: string | symbol): void => {
      if (event !== 'data') return;
      req.off('newListener', attach);
      req.on('data', count);
    };
    req.on('newListener', attach);
    next();
  };
}
