import type { Socket } from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { UPLOAD_TOO_LARGE } from '../errors.js';

/** How long a refused upload's connection stays half-closed after its 413, so the client can read it. */
export const REFUSED_UPLOAD_LINGER_MS = 2_000;

function refuse(res: Response, detail: string): void {
  // `Connection: close` ends the exchange once the 413 is written: the client's remaining bytes are never read
  // (a body being streamed in first gets lingerBeforeClose, so that its client can read the answer)
  res
    .status(413)
    .set('Connection', 'close')
    .json({ error: { code: 'payload_too_large', message: `${UPLOAD_TOO_LARGE} (${detail})` } });
}

/**
 * Closing a socket while the client's bytes still arrive makes the kernel reset the connection, and a
 * client still sending then loses the 413 written just before it (its next write fails and the
 * socket is torn down unread: 4 of 8 runs of the chunked-upload test on a loaded machine). Once the
 * 413 is on its way, the connection is only half-closed (FIN after the answer) and destroyed
 * {@link REFUSED_UPLOAD_LINGER_MS} later, or when the client closes its side, whoever asks for it
 * (Node's server after the answer, the multer interceptor when the response closes). Nothing more
 * is read meanwhile: the request stays paused, so the client's sending stops at the kernel buffers.
 */
function lingerBeforeClose(socket: Socket): void {
  const destroy = socket.destroy.bind(socket);
  let timer: NodeJS.Timeout | null = null;
  socket.destroy = (error?: Error) => {
    if (error) return destroy(error);
    if (timer) return socket;
    socket.end();
    timer = setTimeout(() => destroy(), REFUSED_UPLOAD_LINGER_MS);
    timer.unref();
    return socket;
  };
  socket.once('close', () => {
    if (timer) clearTimeout(timer);
  });
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
      if (res.headersSent) return;
      lingerBeforeClose(req.socket);
      refuse(res, `more than the limit of ${maxBytes} bytes sent`);
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
