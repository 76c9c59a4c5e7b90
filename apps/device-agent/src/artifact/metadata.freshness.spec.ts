import type { DesiredModel } from '@edge-fleet/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../core/logger.js';
import { FakeClock } from '../test-support/fake.clock.js';
import { TestSigner } from '../test-support/test-signer.js';
import { authenticateManifest } from './manifest.verifier.js';
import { MetadataFreshness, metadataExpiry, nextCheckInMs, staleMetadataOf } from './metadata.freshness.js';

const deviceId = '00000000-0000-4000-8000-00000000000a';
const signer = new TestSigner();
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (t: number): string => new Date(t).toISOString();

/** A model whose manifest (issued for `version`) expires at `expiresAt`, its signing key at `keyExpiresAt`. */
function model(version: number, expiresAt: number, keyExpiresAt = T0 + 365 * 86_400_000, by = signer): DesiredModel {
  const base = {
    modelId: 'm',
    modelVersionId: 'mv',
    variantId: 'v',
    name: 'n',
    version: '1',
    precision: 'fp32' as const,
    artifactUrl: 'http://127.0.0.1:9/a',
    sha256: 'a'.repeat(64),
    sizeBytes: 10,
    inputs: [{ name: 'x', dtype: 'float32' as const, shape: [1] }],
  };
  const manifest = by.manifest(
    {
      schema: 1,
      deviceId,
      modelVersionId: base.modelVersionId,
      variantId: base.variantId,
      precision: base.precision,
      sha256: base.sha256,
      sizeBytes: base.sizeBytes,
      version,
      hardwareClasses: [],
      issuedAt: iso(T0),
      expiresAt: iso(expiresAt),
    },
    iso(keyExpiresAt),
  );
  return { ...base, manifest };
}

describe('stale-metadata decision (pure)', () => {
  it('takes the earlier of the manifest expiry and the signing key expiry', () => {
    const m = model(1, T0 + 5_000, T0 + 9_000);
    expect(metadataExpiry(m, authenticateManifest(m, { rootPublicKey: signer.rootPublicKey, deviceId }))).toBe(iso(T0 + 5_000));
    const k = model(1, T0 + 9_000, T0 + 5_000);
    expect(metadataExpiry(k, authenticateManifest(k, { rootPublicKey: signer.rootPublicKey, deviceId }))).toBe(iso(T0 + 5_000));
  });

  it('is stale from the expiry instant on, never without a model or a desired state', () => {
    const held = { assignmentVersion: 4, expiresAt: iso(T0) };
    expect(staleMetadataOf(held, T0 - 1)).toBeNull();
    expect(staleMetadataOf(held, T0)).toEqual({ assignmentVersion: 4, expiresAt: iso(T0) });
    expect(staleMetadataOf(held, T0 + 86_400_000)).toEqual({ assignmentVersion: 4, expiresAt: iso(T0) });
    expect(staleMetadataOf({ assignmentVersion: 4, expiresAt: null }, T0 + 1e12)).toBeNull();
    expect(staleMetadataOf(null, T0)).toBeNull();
  });

  it('checks again after the interval, or at the expiry instant if that is sooner', () => {
    expect(nextCheckInMs({ assignmentVersion: 1, expiresAt: iso(T0 + 5_000) }, T0)).toBe(5_000);
    expect(nextCheckInMs({ assignmentVersion: 1, expiresAt: iso(T0 + 86_400_000) }, T0)).toBe(30_000);
    expect(nextCheckInMs({ assignmentVersion: 1, expiresAt: iso(T0 - 1) }, T0)).toBe(30_000);
    expect(nextCheckInMs({ assignmentVersion: 1, expiresAt: null }, T0)).toBe(30_000);
  });
});

describe('MetadataFreshness on fake time', () => {
  let clock: FakeClock;
  let logs: { level: string; msg: string }[];
  let changes: number;
  let freshness: MetadataFreshness;

  beforeEach(() => {
    clock = new FakeClock(T0);
    logs = [];
    changes = 0;
    freshness = new MetadataFreshness({
      clock,
      logger: createLogger('debug', (line) => logs.push(JSON.parse(line) as { level: string; msg: string })),
      authenticate: (m) => authenticateManifest(m, { rootPublicKey: signer.rootPublicKey, deviceId }),
      onChange: () => changes++,
    });
  });

  const errors = (): number => logs.filter((l) => l.level === 'error').length;

  it('raises the alarm exactly at the expiry instant, logs it once and reports it once, however often it re-checks', async () => {
    freshness.hold(model(3, T0 + 5_000), 3);
    await clock.advance(4_999);
    expect(freshness.staleMetadata).toBeNull();
    expect(changes).toBe(0);
    await clock.advance(1);
    expect(freshness.staleMetadata).toEqual({ assignmentVersion: 3, expiresAt: iso(T0 + 5_000), detectedAt: iso(T0 + 5_000) });
    expect(changes).toBe(1);
    expect(errors()).toBe(1);
    await clock.advance(10 * 30_000);
    expect(freshness.staleMetadata).toEqual({ assignmentVersion: 3, expiresAt: iso(T0 + 5_000), detectedAt: iso(T0 + 5_000) });
    expect(changes).toBe(1);
    expect(errors()).toBe(1);
    expect(clock.pending).toBe(1); // the regular check goes on
  });

  it('checks every interval while expiry is further away, and still at the instant itself', async () => {
    freshness.hold(model(3, T0 + 45_000), 3);
    await clock.advance(30_000);
    expect(freshness.staleMetadata).toBeNull();
    await clock.advance(14_999);
    expect(freshness.staleMetadata).toBeNull();
    await clock.advance(1);
    expect(freshness.staleMetadata?.detectedAt).toBe(iso(T0 + 45_000));
  });

  it('raises at once for a desired state that arrives expired, and a fresh one clears it', async () => {
    await clock.advance(1_000);
    freshness.hold(model(5, T0), 5);
    expect(freshness.staleMetadata).toEqual({ assignmentVersion: 5, expiresAt: iso(T0), detectedAt: iso(T0 + 1_000) });
    expect(changes).toBe(1);
    freshness.hold(model(6, T0 + 86_400_000), 6);
    expect(freshness.staleMetadata).toBeNull();
    expect(changes).toBe(2);
    expect(logs.some((l) => l.level === 'info' && l.msg === 'stale-metadata alarm cleared')).toBe(true);
  });

  it('moves the alarm to a newer expired desired state, and a desired state without a model clears it', () => {
    freshness.hold(model(5, T0 - 1_000), 5);
    freshness.hold(model(6, T0 - 500), 6);
    expect(freshness.staleMetadata).toMatchObject({ assignmentVersion: 6, expiresAt: iso(T0 - 500) });
    expect(changes).toBe(2);
    expect(errors()).toBe(2);
    freshness.hold(null, 7);
    expect(freshness.staleMetadata).toBeNull();
    expect(changes).toBe(3);
  });

  it('counts an expired signing key as expired metadata', () => {
    freshness.hold(model(5, T0 + 86_400_000, T0 - 1), 5);
    expect(freshness.staleMetadata).toMatchObject({ assignmentVersion: 5, expiresAt: iso(T0 - 1) });
  });

  it('lets a manifest that is not genuine neither raise nor clear the alarm', () => {
    const forger = new TestSigner();
    freshness.hold(model(5, T0 - 1_000, undefined, forger), 5);
    expect(freshness.staleMetadata).toBeNull();
    expect(changes).toBe(0);
    freshness.hold(model(5, T0 - 1_000), 5);
    freshness.hold(model(6, T0 + 86_400_000, undefined, forger), 6);
    expect(freshness.staleMetadata).toMatchObject({ assignmentVersion: 5 });
    expect(changes).toBe(1);
    expect(logs.filter((l) => l.level === 'warn')).toHaveLength(2);
  });

  it('knows a model restored from disk by the assignment its manifest was issued for', () => {
    freshness.hold(model(9, T0 - 1));
    expect(freshness.staleMetadata).toMatchObject({ assignmentVersion: 9 });
  });

  it('leaves no timer behind once stopped', async () => {
    freshness.hold(model(3, T0 + 5_000), 3);
    freshness.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(10_000);
    expect(freshness.staleMetadata).toBeNull();
  });
});
