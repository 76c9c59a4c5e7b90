import type { IncomingMessage, ServerResponse } from 'node:http';
import { getTRPCErrorFromUnknown, TRPCError, type AnyTRPCRouter, type inferRouterContext } from '@trpc/server';
import { resolveResponse } from '@trpc/server/http';
import { API_BODY_MAX, writeTrpcError } from '../infra/http-hardening.js';

type NodeRequest = IncomingMessage & { body?: unknown; originalUrl?: string; path?: string };

export interface TrpcHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  createContext: (req: NodeRequest) => Promise<inferRouterContext<TRouter>>;
}

/**
 * Serves the router on an Express mount (`/trpc`), as tRPC's own Express adapter does, but the
 * Fetch `Request` it hands to tRPC carries no abort signal that follows the client, and the answer
 * is written in one piece. tRPC's adapter passes one, and Node 20's `Request` then registers a
 * FinalizationRegistry entry per request to unhook it: after each garbage collection the event
 * loop ran thousands of those callbacks at once, up to 283 ms in one stretch at ~1,500 req/s (a CPU
 * profile of `bench:telemetry-storage`'s `fleet.overview` load), which is what every tRPC call
 * waiting behind it saw as its p99. No procedure here reads the signal (nothing streams), so a
 * client that goes away only loses an answer it would not read.
 */
export function trpcHandler<TRouter extends AnyTRPCRouter>(opts: TrpcHandlerOptions<TRouter>) {
  return (req: NodeRequest, res: ServerResponse): void => {
    serve(opts, req, res).catch((e: unknown) => {
      // resolveResponse answers every error of a call itself; this is one of ours (a body too long, or a bug)
      if (res.headersSent) return void res.end();
      const error = getTRPCErrorFromUnknown(e);
      writeTrpcError(res, error.code === 'INTERNAL_SERVER_ERROR' ? new TRPCError({ code: error.code, message: 'internal error' }) : error);
    });
  };
}

async function serve<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
  req: NodeRequest,
  res: ServerResponse,
): Promise<void> {
  const reqPath = req.path ?? '';
  const path = reqPath.slice(reqPath.lastIndexOf('/') + 1);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (key.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else headers.append(key, value);
  }
  const method = req.method ?? 'GET';
  const body = method === 'GET' || method === 'HEAD' ? undefined : await bodyOf(req);
  // tRPC reads the query string (input, batch) and the path it is given, never the host: no Host header is parsed
  const request = new Request(new URL(req.originalUrl ?? req.url ?? '/', 'http://localhost'), { method, headers, body });
  const response = await resolveResponse({
    router: opts.router,
    req: request,
    // as tRPC's adapter does: the raw segment (resolveResponse decodes it)
    path,
    error: null,
    createContext: () => opts.createContext(req),
  });
  res.statusCode = response.status;
  for (const [key, value] of response.headers) if (key !== 'set-cookie') res.setHeader(key, value);
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  res.end(Buffer.from(await response.arrayBuffer()));
}

/**
 * The body as the app's parsers left it (parsed JSON, text), or read here up to
 * {@link API_BODY_MAX} bytes. A longer one is read to its end and dropped before the 413, as
 * the app's JSON parser does: answering while the client still sends would reset the connection
 * under the answer.
 */
function bodyOf(req: NodeRequest): Promise<string | Buffer | undefined> | string | undefined {
  if (req.body !== undefined) return typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
  if (req.readableEnded) return undefined;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= API_BODY_MAX) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.once('error', reject);
    req.once('end', () => {
      if (size <= API_BODY_MAX) return resolve(Buffer.concat(chunks));
      reject(new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: `a tRPC request body may be at most ${API_BODY_MAX} bytes` }));
    });
  });
}
