import { ForwardingGrantPayloadSchema, parseForwardingToken, type Scenario } from '@edge-fleet/shared';
import { readSignedJson } from '../artifact/signed-envelope.js';
import type { Clock } from '../core/clock.js';
import { ServeError } from '../serve/serve.errors.js';

class GrantRefused extends Error {}

function refuse(reason: string): never {
  throw new GrantRefused(reason);
}

const unauthorized = (message: string): ServeError => new ServeError(401, message, { 'www-authenticate': 'Bearer' });

/**
 * A cloud node's door: a request is served only with a forwarding grant the control plane signed
 * (chain up to the root key from this node's enrollment), not expired, for the scenario this node
 * serves. Missing, forged, malformed or expired: 401; another scenario's: 403. Stateless: nothing
 * is cached, so a grant stops working the moment it expires.
 */
export class ForwardingGrantVerifier {
  constructor(
    private readonly rootPublicKey: string,
    private readonly scenario: Scenario,
    private readonly clock: Clock,
    /** The device's key floor (see KeyFloor): a grant signed by a rotated-out key is refused. */
    private readonly minKeySerial: () => number = () => 0,
  ) {}

  /** Null when the `Authorization` header carries a valid grant; else the error to answer with. */
  check(authorization: string | undefined): ServeError | null {
    if (authorization === undefined || authorization === '')
      return unauthorized('a forwarding grant is required (Authorization: Bearer <grant from the desired state>)');
    const match = /^Bearer (\S+)$/.exec(authorization);
    if (match === null) return unauthorized('the Authorization header is not "Bearer <grant>"');
    const envelope = parseForwardingToken(match[1] ?? '');
    if (envelope === null) return unauthorized('the bearer token is not a forwarding grant');
    const now = this.clock.now();
    try {
      const grant = readSignedJson(
        envelope,
        ForwardingGrantPayloadSchema,
        this.rootPublicKey,
        now,
        'forwarding grant',
        refuse,
        this.minKeySerial(),
      );
      if (Date.parse(grant.expiresAt) <= now) return unauthorized(`the forwarding grant expired at ${grant.expiresAt}`);
      if (grant.scenario !== this.scenario)
        return new ServeError(403, `the forwarding grant is for scenario "${grant.scenario}"; this cloud node serves "${this.scenario}"`);
      return null;
    } catch (err) {
      if (err instanceof GrantRefused) return unauthorized(`forwarding grant refused: ${err.message}`);
      throw err;
    }
  }
}
