import { NextResponse, type NextRequest } from 'next/server';
import { SESSION_COOKIE } from '@/server/session';

/** Optimistic check only: no cookie → sign in. The operator layout validates the token itself. */
export function proxy(request: NextRequest) {
  if (request.cookies.has(SESSION_COOKIE)) return NextResponse.next();
  return NextResponse.redirect(new URL('/login', request.url));
}

export const config = {
  // Everything except the sign-in page, the API proxy (it answers 401 itself) and static assets.
  matcher: ['/((?!login|logout|api/|_next/static|_next/image|favicon.ico).*)'],
};
