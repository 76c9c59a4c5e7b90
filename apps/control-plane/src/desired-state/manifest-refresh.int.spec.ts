import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestPayloadSchema } from '@edge-fleet/shared';
import { startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { VirtualDevice } from '../test-support/virtual-device.js';

/** Manifests live 20 s here and are re-issued once older than 2 s (in production: 30 days, 7 days ahead). */
let h: Harness;
let device: VirtualDevice;
beforeAll(async () => {
  h = await startHarness({ MANIFEST_TTL_SECONDS: '20', MANIFEST_REFRESH_AHEAD_SECONDS: '18', MANIFEST_REFRESH_INTERVAL_MS: '500' });
});
afterAll(async () => {
  await device.stop();
  await h.close();
});

describe('manifest refresh', () => {
  it('re-issues a desired state with a fresh manifest before it expires: same model, same reason, a higher number', async () => {
    const v = await uploadMlp(h, 'refresh', '1', 21);
    device = await VirtualDevice.start(h, 'data_analysis_agent', 'cloud-cpu-node');
    await h.api('/api/v1/scenarios/data_analysis_agent/model', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelVersionId: v.id }),
    });
    const first = await waitFor(() => Promise.resolve(device.received.find((d) => d.model !== null)), 10_000, 'first desired state');
    const fresh = await waitFor(
      () => Promise.resolve(device.received.find((d) => d.assignmentVersion > first.assignmentVersion)),
      10_000,
      'a refreshed desired state',
    );
    expect(fresh.model?.sha256).toBe(first.model?.sha256);
    expect(fresh.model?.variantId).toBe(first.model?.variantId);
    expect(fresh.reason).toBe(first.reason);
    const payload = (d: typeof first) =>
      ManifestPayloadSchema.parse(JSON.parse(Buffer.from(d.model?.manifest.payload ?? '', 'base64').toString('utf8')));
    expect(Date.parse(payload(fresh).expiresAt)).toBeGreaterThan(Date.parse(payload(first).expiresAt));
    expect(Date.parse(payload(fresh).expiresAt) - Date.parse(payload(fresh).issuedAt)).toBe(20_000);
    expect(payload(fresh).version).toBe(fresh.assignmentVersion);
    // the device applies it without a download (same artifact): it keeps running the model
    await waitFor(() => Promise.resolve(device.applied === fresh.assignmentVersion), 10_000, 'refresh applied');
  });
});
