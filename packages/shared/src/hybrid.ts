import { SignedForwardingGrantSchema, type SignedForwardingGrant } from './schemas.js';

/**
 * Hybrid placement's wire helpers. A hybrid device presents its forwarding grant to a cloud node as
 * `Authorization: Bearer <token>`, the token being the signed grant's JSON in base64url (one header,
 * no state on the node: it checks the signature chain, the expiry and the scenario per request).
 */

/** The bearer token of a signed grant. */
export function forwardingToken(grant: SignedForwardingGrant): string {
  // base64url of ASCII JSON (the grant's fields are base64 and ISO dates): no Buffer, so browsers can use it too
  return btoa(JSON.stringify(grant)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A bearer token read back as a signed grant's shape (its signature still unchecked); null when it is not one. */
export function parseForwardingToken(token: string): SignedForwardingGrant | null {
  if (token.length > 16_384 || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
  let value: unknown;
  try {
    value = JSON.parse(atob(token.replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return null;
  }
  const r = SignedForwardingGrantSchema.safeParse(value);
  return r.success ? r.data : null;
}

/** The response parameter that says where an answer ran: `local` (this device's session) or `remote` (a cloud node). */
export const SERVED_BY = 'served_by';
export type ServedBy = 'local' | 'remote';
