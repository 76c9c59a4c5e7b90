import type { EnergyFigures, VariantEnergy } from './api-types';
import { DASH, formatBytes } from './format';

/** A figure to three significant digits with its unit; "—" when there is none. */
export function sig(n: number | null | undefined, unit: string): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return DASH;
  return `${Number(n.toPrecision(3)).toString()} ${unit}`;
}

/** Where a variant's figures come from, with the windows behind them: "estimated (2 sensor, 1 estimate windows)". */
export function basisLabel(f: EnergyFigures): string {
  if (f.basis === null) return `no data: ${f.reason ?? 'no windows in the period'}`;
  const windows = (n: number) => `${n} window${n === 1 ? '' : 's'}`;
  if (f.basis === 'simulated') return `simulated (${windows(f.simulatedWindows)})`;
  if (f.basis === 'measured') return `measured (${windows(f.sensorWindows)} from a sensor)`;
  return `estimated (${f.sensorWindows} sensor, ${windows(f.estimateWindows)} from the profile estimate)`;
}

/** The name a variant is shown under: precision and method, or the id the windows gave for an unknown one. */
export function variantName(v: VariantEnergy): string {
  const precision = v.precision ? v.precision.toUpperCase() : 'unknown precision';
  if (v.status === null) return `${precision} · unknown variant ${v.variantId}`;
  return `${precision}${v.method && v.method !== v.precision ? ` (${v.method})` : ''}${v.modelName ? ` · ${v.modelName} ${v.modelVersion ?? ''}`.trimEnd() : ''}`;
}

/** Hybrid placement's traffic: `sent ↑ / received ↓`, measured; a dash when no window reported any. */
export function trafficLabel(f: EnergyFigures): string {
  if (f.trafficBytesSent === null && f.trafficBytesReceived === null) return DASH;
  return `${formatBytes(f.trafficBytesSent)} ↑ / ${formatBytes(f.trafficBytesReceived)} ↓`;
}

export interface EnergyRow {
  key: string;
  variant: string;
  kind: 'observed' | 'simulated';
  storage: string;
  inferences: string;
  meanPower: string;
  energy: string;
  perInference: string;
  perDay: string;
  costPerDay: string;
  /** Bytes forwarded to cloud nodes and received back (measured by the devices); a dash where none were reported. */
  traffic: string;
  basis: string;
  /** A figure is missing: why (no windows, no inferences, no tariff). */
  note: string | null;
}

/**
 * The Energy page's rows for one scenario: each variant's observed figures (sensor or estimate), and
 * its simulated ones on a row of their own when there are any; every row says its basis.
 */
export function energyRows(variants: readonly VariantEnergy[], currency: string | null): EnergyRow[] {
  const rows: EnergyRow[] = [];
  for (const v of variants) {
    const kinds = v.simulated.basis === null ? (['observed'] as const) : (['observed', 'simulated'] as const);
    for (const kind of kinds) {
      const f = v[kind];
      rows.push({
        key: `${v.variantId}:${kind}`,
        variant: variantName(v),
        kind,
        storage: formatBytes(v.storageBytes),
        inferences: f.basis === null ? DASH : f.inferences.toLocaleString('en-US'),
        meanPower: sig(f.meanPowerW, 'W'),
        energy: sig(f.energyJ, 'J'),
        perInference: sig(f.energyPerInferenceMj, 'mJ'),
        perDay: sig(f.kwhPerDay, 'kWh/day'),
        costPerDay: currency === null ? DASH : sig(f.costPerDay, `${currency}/day`),
        traffic: trafficLabel(f),
        basis: basisLabel(f),
        note: f.basis === null ? null : f.reason,
      });
    }
  }
  return rows;
}
