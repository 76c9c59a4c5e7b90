import { describe, expect, it } from 'vitest';
import { measuredRows } from './measured';

const now = Date.parse('2026-12-05T12:00:00Z');
const at = '2026-12-05T11:59:00Z';

describe('measured on this device (issue 16)', () => {
  it('says an unmeasured device is predicted from the unscaled builder figures', () => {
    expect(measuredRows({ benchmark: null, variants: [] }, now)).toEqual([
      ['Reference benchmark', 'not reported: predictions use the builder\'s figures, labelled "unmeasured device"'],
      ['Execution providers', 'not reported'],
      ['Variant latency', 'no variant measured yet'],
    ]);
  });

  it('shows the benchmark, the providers onnxruntime offers and each variant measured, by name', () => {
    const rows = measuredRows(
      {
        benchmark: { model: 'convnet-seed1', p50Ms: 0.42, runs: 30, executionProviders: ['cpu', 'webgpu'], measuredAt: at },
        variants: [
          {
            variantId: 'v1',
            p50: 56.9,
            p95: 60.1,
            p99: 61,
            runs: 10,
            executionProvider: 'cpu',
            measuredAt: at,
            variant: { name: 'detector', version: '1', precision: 'fp32' },
          },
          { variantId: 'gone', p50: 1, p95: 2, p99: 3, runs: 10, executionProvider: 'cpu', measuredAt: at, variant: null },
        ],
      },
      now,
    );
    expect(rows[0]?.[1]).toMatch(/^convnet-seed1: p50 0\.42 ms over 30 runs \(.*\); predictions scale the builder's figures by it$/);
    expect(rows[1]).toEqual(['Execution providers', 'cpu, webgpu']);
    expect(rows[2]?.[0]).toBe('detector 1 (fp32)');
    expect(rows[2]?.[1]).toMatch(/^p50 56\.9 ms, p95 60\.1 ms, p99 61\.0 ms over 10 smoke runs on cpu/);
    expect(rows[3]?.[0]).toBe('gone');
  });
});
