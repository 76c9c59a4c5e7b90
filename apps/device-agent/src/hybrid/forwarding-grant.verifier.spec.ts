import { randomUUID } from 'node:crypto';
import { forwardingToken } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { TestSigner } from '../test-support/test-signer.js';
import { ForwardingGrantVerifier } from './forwarding-grant.verifier.js';

describe('ForwardingGrantVerifier and signing-key rotation', () => {
  const signer = new TestSigner();
  const rotated = signer.rotated();
  const device = randomUUID();
  const bearer = (s: TestSigner): string => `Bearer ${forwardingToken(s.grant(device, 'robotic_manipulation'))}`;

  it('a cloud node that trusts serial 2 refuses a grant signed by the rotated-out key (401), and serves one under serial 2', () => {
    let floor = 0;
    const verifier = new ForwardingGrantVerifier(signer.rootPublicKey, 'robotic_manipulation', systemClock, () => floor);
    expect(verifier.check(bearer(signer))).toBeNull();
    floor = 2;
    const refused = verifier.check(bearer(signer));
    expect(refused?.status).toBe(401);
    expect(refused?.message).toMatch(/signed by key serial 1, rotated out/);
    expect(verifier.check(bearer(rotated))).toBeNull();
  });
});
