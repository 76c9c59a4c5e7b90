import type { DeviceDetail } from './api-types';
import { formatAgo, formatMs } from './format';

/** What a device measured itself, as the device page receives it. */
export type DeviceMeasured = DeviceDetail['measured'];

/**
 * The device page's "Measured on this device" rows: the reference benchmark (the basis of the speed
 * factor that scales the builder's figures), the execution providers onnxruntime offers, and each
 * variant's smoke-run latency (the first basis of a prediction). Says so where nothing was measured.
 */
export function measuredRows(m: DeviceMeasured, now: number): [string, string][] {
  const b = m.benchmark;
  const rows: [string, string][] = [
    [
      'Reference benchmark',
      b
        ? `${b.model}: p50 ${formatMs(b.p50Ms)} over ${b.runs} runs (${formatAgo(b.measuredAt, now)}); predictions scale the builder's figures by it`
        : 'not reported: predictions use the builder\'s figures, labelled "unmeasured device"',
    ],
    ['Execution providers', b ? b.executionProviders.join(', ') || 'none reported' : 'not reported'],
  ];
  if (m.variants.length === 0) rows.push(['Variant latency', 'no variant measured yet']);
  for (const v of m.variants) {
    const name = v.variant ? `${v.variant.name} ${v.variant.version} (${v.variant.precision})` : v.variantId;
    rows.push([
      name,
      `p50 ${formatMs(v.p50)}, p95 ${formatMs(v.p95)}, p99 ${formatMs(v.p99)} over ${v.runs} smoke runs on ${v.executionProvider} (${formatAgo(v.measuredAt, now)})`,
    ]);
  }
  return rows;
}
