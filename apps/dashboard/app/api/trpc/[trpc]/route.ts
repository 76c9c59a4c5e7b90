import type { NextRequest } from 'next/server';
import { clientAddressHeaders, isProcedurePath, trpcUrl } from '@/server/control-plane';
import { isSessionCredential, SESSION_COOKIE } from '@/server/session';

const UPSTREAM_TIMEOUT_MS = 10_000;

/** A tRPC-shaped error, so the browser's tRPC client reports it like any other procedure error. */
function trpcError(status: number, code: string, message: string): Response {
  return Response.json({ error: { message, code: -32603, data: { code, httpStatus: status } } }, { status });
}

/**
 * A change (POST) is accepted only from this dashboard's own pages: the browser's Origin header
 * must name this host. SameSite=Strict already keeps the cookie off cross-site requests; this is
 * the second wall, as for Next's server actions.
 */
function sameOrigin(req: NextRequest): boolean {
  const origin = req.headers.get('origin');
  const host = req.headers.get('x-forwarded-host') ?? req.headers.get('host');
  if (!origin || !host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * Same-origin tRPC endpoint for the browser: forwards the call to the control plane with the
 * operator's session id from the httpOnly cookie, so no credential reaches page scripts and the
 * control plane is never called cross-origin.
 */
async function forward(req: NextRequest, ctx: RouteContext<'/api/trpc/[trpc]'>): Promise<Response> {
  const { trpc: path } = await ctx.params;
  if (!isProcedurePath(path)) return trpcError(404, 'NOT_FOUND', 'unknown procedure path');
  const session = req.cookies.get(SESSION_COOKIE)?.value;
  if (!isSessionCredential(session)) return trpcError(401, 'UNAUTHORIZED', 'not signed in');
  if (req.method === 'POST' && !sameOrigin(req))
    return trpcError(403, 'FORBIDDEN', 'a change must come from a page of this dashboard (the Origin header does not match)');

  const headers: Record<string, string> = {
    authorization: `Bearer ${session}`,
    ...clientAddressHeaders(req.headers.get('x-forwarded-for')),
  };
  const contentType = req.headers.get('content-type');
  if (contentType) headers['content-type'] = contentType;
  try {
    const upstream = await fetch(trpcUrl(path, req.nextUrl.search), {
      method: req.method,
      headers,
      body: req.method === 'POST' ? await req.text() : undefined,
      cache: 'no-store',
      signal: AbortSignal.any([req.signal, AbortSignal.timeout(UPSTREAM_TIMEOUT_MS)]),
    });
    return new Response(await upstream.arrayBuffer(), {
      status: upstream.status,
      headers: {
        'content-type': upstream.headers.get('content-type') ?? 'application/json',
        'cache-control': 'no-store',
      },
    });
  } catch {
    return trpcError(502, 'BAD_GATEWAY', 'the control plane is unreachable');
  }
}

export const GET = forward;
export const POST = forward;
