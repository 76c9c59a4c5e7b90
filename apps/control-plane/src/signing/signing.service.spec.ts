import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DesiredStatePayloadSchema, SignedDesiredStateSchema, signingKeyCertMessage } from '@edge-fleet/shared';
import { SigningService } from './signing.service.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const key = (b64: string) => createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
const payload = {
  schema: 1 as const,
  deviceId: '3f0e4a52-8a9c-4d1e-9f57-2b1c6f0d9a11',
  modelVersionId: 'mv',
  variantId: 'v',
  precision: 'fp32' as const,
  sha256: 'a'.repeat(64),
  sizeBytes: 10,
  version: 1,
  hardwareClasses: [],
  issuedAt: '2026-11-29T10:00:00.000Z',
  expiresAt: '2026-12-29T10:00:00.000Z',
};

describe('SigningService', () => {
  it('gives replicas opening an empty key directory together one root key', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-keys-'));
    dirs.push(dir);
    const opened = await Promise.all(Array.from({ length: 8 }, () => SigningService.open(dir)));
    expect(new Set(opened.map((s) => s.rootPublicKey)).size).toBe(1);
  });

  it('keeps its keys across restarts, private keys readable by the owner only', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-keys-'));
    dirs.push(dir);
    const a = await SigningService.open(dir);
    const b = await SigningService.open(dir);
    expect(b.rootPublicKey).toBe(a.rootPublicKey);
    expect(b.signManifest(payload).signingKey).toEqual(a.signManifest(payload).signingKey);
    for (const f of ['root.pem', 'signing.pem']) expect((await stat(path.join(dir, f))).mode & 0o777).toBe(0o600);
  });

  it('signs manifests that verify against the root-certified signing key, and only the exact bytes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-keys-'));
    dirs.push(dir);
    const s = await SigningService.open(dir);
    const m = s.signManifest(payload);
    const cert = Buffer.from(signingKeyCertMessage(m.signingKey));
    expect(verify(null, cert, key(s.rootPublicKey), Buffer.from(m.signingKey.rootSignature, 'base64'))).toBe(true);
    const bytes = Buffer.from(m.payload, 'base64');
    expect(verify(null, bytes, key(m.signingKey.publicKey), Buffer.from(m.signature, 'base64'))).toBe(true);
    const tampered = Buffer.from(bytes.toString().replace('"sizeBytes":10', '"sizeBytes":11'));
    expect(verify(null, tampered, key(m.signingKey.publicKey), Buffer.from(m.signature, 'base64'))).toBe(false);
    expect(Date.parse(m.signingKey.expiresAt) - Date.now()).toBeGreaterThan(300 * 86_400_000);
  });

  it('issue 10 item 4: signs a whole desired state, `model: null` included, as the exact bytes it ships', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-keys-'));
    dirs.push(dir);
    const s = await SigningService.open(dir);
    const desired = {
      schema: 1 as const,
      deviceId: payload.deviceId,
      assignmentVersion: 2,
      issuedAt: payload.issuedAt,
      scenario: 'financial_trading' as const,
      reason: 'unassigned',
      model: null,
      runtime: { targetRateHz: 10, windowSeconds: 5, intraOpThreads: 1 },
      highWaterMark: 2,
      signedAt: payload.issuedAt,
      expiresAt: payload.expiresAt,
    };
    const signed = SignedDesiredStateSchema.parse(s.signDesired(desired));
    const bytes = Buffer.from(signed.payload, 'base64');
    expect(verify(null, bytes, key(signed.signingKey.publicKey), Buffer.from(signed.signature, 'base64'))).toBe(true);
    expect(DesiredStatePayloadSchema.parse(JSON.parse(bytes.toString()))).toEqual(desired);
    expect(signed.signingKey).toEqual(s.signManifest(payload).signingKey);
  });

  it('rotates to a new key under the next serial, certified by the same root; a replica sharing the directory adopts it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-keys-'));
    dirs.push(dir);
    const a = await SigningService.open(dir);
    const b = await SigningService.open(dir);
    expect(a.serial).toBe(1);
    const before = a.signManifest(payload).signingKey;
    const cert = await a.rotate();
    expect(cert.serial).toBe(2);
    expect(cert.publicKey).not.toBe(before.publicKey);
    expect(verify(null, Buffer.from(signingKeyCertMessage(cert)), key(a.rootPublicKey), Buffer.from(cert.rootSignature, 'base64'))).toBe(
      true,
    );
    const m = a.signManifest(payload);
    expect(m.signingKey).toEqual(cert);
    expect(verify(null, Buffer.from(m.payload, 'base64'), key(cert.publicKey), Buffer.from(m.signature, 'base64'))).toBe(true);
    // the other replica still signs with serial 1 until it refreshes, then with serial 2; a restart opens serial 2
    expect(b.signManifest(payload).signingKey.serial).toBe(1);
    await b.refresh(true);
    expect(b.signManifest(payload).signingKey).toEqual(cert);
    expect((await SigningService.open(dir)).serial).toBe(2);
    expect((await stat(path.join(dir, 'signing.pem'))).mode & 0o777).toBe(0o600);
  });

  it('two replicas rotating at once rotate one after the other (serials 2 then 3) and end up signing with the key on disk', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ef-keys-'));
    dirs.push(dir);
    const a = await SigningService.open(dir);
    const b = await SigningService.open(dir);
    await Promise.all([a.rotate(), b.rotate()]);
    await a.refresh(true);
    await b.refresh(true);
    const onDisk = (await SigningService.open(dir)).certificate;
    expect(a.certificate).toEqual(onDisk);
    expect(b.certificate).toEqual(onDisk);
    expect(onDisk.serial).toBe(3);
  });
});
