import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportedStateRepository } from '../reported/reported-state.repository.js';
import { enrollDevice } from '../test-support/device-client.js';
import { startHarness, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('reported state', () => {
  it('keeps the newest report when two arrive out of order', async () => {
    const e = await enrollDevice(h, 'data_analysis_agent', 'cloud-cpu-node');
    const repo = h.cp.app.get(ReportedStateRepository);
    const bootId = randomUUID();
    const at = (ms: number) => new Date(Date.parse('2026-11-29T10:00:00.000Z') + ms);
    const report = (phase: string, ms: number) => ({
      deviceId: e.deviceId,
      bootId,
      phase,
      appliedAssignmentVersion: 1,
      activeVariantId: null,
      activeSha256: null,
      payload: { phase },
      reportedAt: at(ms),
    });
    await repo.saveReported([report('running', 20)]);
    await repo.saveReported([report('loading', 10)]); // older, arrives late
    const d = (await (await h.api(`/api/v1/devices/${e.deviceId}`)).json()) as { reported: { phase: string } };
    expect(d.reported.phase).toBe('running');
    await repo.saveReported([report('failed', 30)]);
    const d2 = (await (await h.api(`/api/v1/devices/${e.deviceId}`)).json()) as { reported: { phase: string } };
    expect(d2.reported.phase).toBe('failed');
  });
});
