import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ManifestPayloadSchema, type DesiredStatePayload, type ManifestPayload } from '@edge-fleet/shared';
import { openSignedDesired } from '../test-support/signed-desired.js';
import { SigningPool } from './signing-pool.js';
import { POOL_MIN, SigningService } from './signing.service.js';

const dirs: string[] = [];
const services: SigningService[] = [];
afterAll(async () => {
  for (const s of services) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function pooled(workers: number): Promise<SigningService> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ef-keys-'));
  dirs.push(dir);
  const s = await SigningService.open(dir);
  s.startPool(workers);
  services.push(s);
  return s;
}

const deviceId = (i: number) => `3f0e4a52-8a9c-4d1e-9f57-${i.toString(16).padStart(12, '0')}`;

function manifest(i: number): ManifestPayload {
  return {
    schema: 1,
    deviceId: deviceId(i),
    modelVersionId: 'mv',
    variantId: 'v',
    precision: 'fp32',
    sha256: 'a'.repeat(64),
    sizeBytes: 10 + i,
    version: 1,
    hardwareClasses: [],
    issuedAt: '2026-11-29T10:00:00.000Z',
    expiresAt: '2099-12-29T10:00:00.000Z',
  };
}

function desired(i: number): DesiredStatePayload {
  return {
    schema: 1,
    deviceId: deviceId(i),
    assignmentVersion: 3,
    issuedAt: '2026-11-29T10:00:00.000Z',
    scenario: 'financial_trading',
    reason: `device ${i}`,
    model: null,
    runtime: { targetRateHz: 10, windowSeconds: 5, intraOpThreads: 1 },
    highWaterMark: 3,
    signedAt: '2026-11-29T10:00:00.000Z',
    expiresAt: '2099-12-29T10:00:00.000Z',
  };
}

const spki = (b64: string) => createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });

describe('signing on worker threads', () => {
  it('signs a batch of whole desired states into envelope bytes, in order, that a device accepts (chain to the root, then the exact bytes), on the threads as inline', async () => {
    const s = await pooled(2);
    for (const n of [POOL_MIN * 4 + 3, POOL_MIN - 1]) {
      const envelopes = await s.signDesiredEnvelopes(Array.from({ length: n }, (_, i) => desired(i)));
      expect(envelopes).toHaveLength(n);
      envelopes.forEach((bytes, i) => {
        expect(openSignedDesired(bytes, s.rootPublicKey)).toEqual(desired(i));
        // exactly the envelope's JSON: nothing of a neighbour in the shared buffer
        expect(Object.keys(JSON.parse(bytes.toString('utf8')) as object).sort()).toEqual(['payload', 'signature', 'signingKey']);
      });
    }
  });

  it('with shareEventLoop the calling thread signs an equal share beside the threads; the answer is the same, in order', async () => {
    const s = await pooled(1);
    const n = POOL_MIN * 4 + 3;
    const spy = vi.spyOn(SigningPool.prototype, 'sign');
    const envelopesSpy = vi.spyOn(SigningPool.prototype, 'envelopes');
    try {
      const manifests = await s.signManifests(
        Array.from({ length: n }, (_, i) => manifest(i)),
        { shareEventLoop: true },
      );
      manifests.forEach((m, i) => {
        const bytes = Buffer.from(m.payload, 'base64');
        expect(verify(null, bytes, spki(m.signingKey.publicKey), Buffer.from(m.signature, 'base64'))).toBe(true);
        expect(ManifestPayloadSchema.parse(JSON.parse(bytes.toString()))).toEqual(manifest(i));
      });
      const envelopes = await s.signDesiredEnvelopes(
        Array.from({ length: n }, (_, i) => desired(i)),
        { shareEventLoop: true },
      );
      envelopes.forEach((bytes, i) => expect(openSignedDesired(bytes, s.rootPublicKey)).toEqual(desired(i)));
      // one thread and the caller: the thread was handed the second half only
      expect(spy.mock.calls.map((c) => c[0].length)).toEqual([n - Math.floor(n / 2)]);
      expect(envelopesSpy.mock.calls.map((c) => c[0].length)).toEqual([n - Math.floor(n / 2)]);
    } finally {
      spy.mockRestore();
      envelopesSpy.mockRestore();
    }
  });

  it('signs manifests that verify against the root-certified signing key', async () => {
    const s = await pooled(1);
    const signed = await s.signManifests(Array.from({ length: POOL_MIN }, (_, i) => manifest(i)));
    signed.forEach((m, i) => {
      const bytes = Buffer.from(m.payload, 'base64');
      expect(verify(null, bytes, spki(m.signingKey.publicKey), Buffer.from(m.signature, 'base64'))).toBe(true);
      expect(ManifestPayloadSchema.parse(JSON.parse(bytes.toString()))).toEqual(manifest(i));
    });
  });

  it('after a key rotation the threads sign with the new key (they are handed it), under its certificate', async () => {
    const s = await pooled(2);
    const envelope = (b: Buffer | undefined) => JSON.parse(b?.toString('utf8') ?? 'null') as { signingKey: unknown };
    const before = await s.signDesiredEnvelopes(Array.from({ length: POOL_MIN }, (_, i) => desired(i)));
    const cert = await s.rotate();
    const after = await s.signDesiredEnvelopes(Array.from({ length: POOL_MIN }, (_, i) => desired(i)));
    expect(envelope(before[0]).signingKey).toMatchObject({ serial: 1 });
    for (const bytes of after) {
      expect(envelope(bytes).signingKey).toEqual(cert);
      expect(openSignedDesired(bytes, s.rootPublicKey).deviceId).toMatch(/^3f0e4a52/);
    }
  });

  it('once its threads are closed (shutdown) a batch is signed inline, not lost', async () => {
    const s = await pooled(1);
    await s.close();
    const [first] = await s.signDesiredEnvelopes(Array.from({ length: POOL_MIN }, (_, i) => desired(i)));
    expect(first && openSignedDesired(first, s.rootPublicKey)).toEqual(desired(0));
  });
});
