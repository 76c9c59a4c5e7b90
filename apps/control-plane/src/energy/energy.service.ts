import { Inject, Injectable } from '@nestjs/common';
import {
  noEnergyFigures,
  type DeviceEnergy,
  type EnergyBasis,
  type EnergyComparison,
  type EnergyFigures,
  type EnergyQuery,
  type EnergyReport,
  type ScenarioEnergy,
  type VariantEnergy,
} from '@edge-fleet/shared/api';
import { PrecisionSchema, type Precision } from '@edge-fleet/shared';
import type { DeviceScope } from '../infra/scope-sql.js';
import type { Config } from '../config.js';
import { CONFIG } from '../infra/tokens.js';
import { AppError } from '../errors.js';
import { EnergyRepository, type DeviceVariantRow, type VariantEnergyRow, type WindowSums } from './energy.repository.js';

const DAY_S = 86_400;
const J_PER_KWH = 3_600_000;
const PRECISION_ORDER: readonly Precision[] = PrecisionSchema.options;

type Tariff = EnergyReport['tariff'];

/** A variant's figures from the sums of one class of its windows; no windows: nulls and the reason. */
export function figuresOf(s: WindowSums | null, tariff: Tariff, kind: 'observed' | 'simulated'): EnergyFigures {
  if (s === null || s.windows === 0) {
    return noEnergyFigures(
      kind === 'observed' ? 'no sensor or estimated power windows in the period' : 'no simulated windows in the period',
    );
  }
  const basis: EnergyBasis = kind === 'simulated' ? 'simulated' : s.estimateWindows > 0 ? 'estimated' : 'measured';
  const meanPowerW = s.windowSeconds > 0 ? s.energyJ / s.windowSeconds : null;
  const energyPerInferenceMj = s.inferences > 0 ? (s.energyJ / s.inferences) * 1_000 : null;
  const ratePerSecond = s.spanSeconds > 0 ? s.inferences / s.spanSeconds : null;
  const kwhPerDay = s.spanSeconds > 0 ? (s.energyJ / s.spanSeconds) * (DAY_S / J_PER_KWH) : null;
  const costPerDay = kwhPerDay !== null && tariff !== null ? kwhPerDay * tariff.perKwh : null;
  const reasons = [
    s.inferences === 0 ? 'no inference ran: no energy per inference' : null,
    s.spanSeconds > 0 ? null : 'the windows span no time: no rate or daily projection',
    kwhPerDay !== null && tariff === null ? 'no tariff configured (ENERGY_TARIFF_PER_KWH): no cost' : null,
  ].filter((r): r is string => r !== null);
  return {
    basis,
    windows: s.windows,
    sensorWindows: s.sensorWindows,
    estimateWindows: s.estimateWindows,
    simulatedWindows: s.simulatedWindows,
    devices: s.devices,
    inferences: s.inferences,
    windowSeconds: s.windowSeconds,
    spanSeconds: s.spanSeconds,
    meanPowerW,
    energyJ: s.energyJ,
    energyPerInferenceMj,
    ratePerSecond,
    kwhPerDay,
    costPerDay,
    trafficBytesSent: s.bytesSent,
    trafficBytesReceived: s.bytesReceived,
    reason: reasons.length > 0 ? reasons.join('; ') : null,
  };
}

const label = (v: VariantEnergy) => (v.precision ?? 'unknown precision').toUpperCase();
const fmt = (n: number) => Number(n.toPrecision(3)).toString();

/**
 * `v` against `base` at `v`'s observed rate: each side's energy per inference × that rate × 24 h.
 * Omitted, with the reason, when either side has no energy per inference of the kind.
 */
export function compare(v: VariantEnergy, base: VariantEnergy, kind: 'observed' | 'simulated', tariff: Tariff): EnergyComparison {
  const a = v[kind];
  const b = base[kind];
  const head = {
    variantId: v.variantId,
    precision: v.precision,
    baselineVariantId: base.variantId,
    baselinePrecision: base.precision,
    kind,
    variantBasis: a.basis,
    baselineBasis: b.basis,
  };
  const aMj = a.energyPerInferenceMj;
  const rate = a.ratePerSecond;
  const bMj = b.energyPerInferenceMj;
  if (aMj === null || rate === null || bMj === null) {
    const omitted =
      aMj === null || rate === null
        ? `${label(v)} has no ${kind} energy per inference and rate in the period (${a.reason ?? 'no data'})`
        : `${label(base)} (baseline) has no ${kind} energy per inference in the period (${b.reason ?? 'no data'})`;
    return {
      ...head,
      ratePerSecond: null,
      variantKwhPerDay: null,
      baselineKwhPerDay: null,
      savedKwhPerDay: null,
      savedCostPerDay: null,
      sentence: null,
      omitted,
    };
  }
  const perDay = (mj: number) => (mj / 1_000) * rate * (DAY_S / J_PER_KWH);
  const variantKwhPerDay = perDay(aMj);
  const baselineKwhPerDay = perDay(bMj);
  const saved = baselineKwhPerDay - variantKwhPerDay;
  const savedCostPerDay = tariff === null ? null : saved * tariff.perKwh;
  const cost = tariff === null ? '' : ` (${fmt(Math.abs(saved * tariff.perKwh))} ${tariff.currency}/day)`;
  const what = saved >= 0 ? `saves ${fmt(saved)} kWh/day${cost} against` : `uses ${fmt(-saved)} kWh/day${cost} more than`;
  const sentence =
    `${label(v)} ${what} ${label(base)} ` +
    `at the same rate of ${fmt(rate)} inferences/s ` +
    `(${label(v)} ${a.basis}, ${fmt(aMj)} mJ/inference; ${label(base)} ${b.basis}, ${fmt(bMj)} mJ/inference)`;
  return {
    ...head,
    ratePerSecond: rate,
    variantKwhPerDay,
    baselineKwhPerDay,
    savedKwhPerDay: saved,
    savedCostPerDay,
    sentence,
    omitted: null,
  };
}

/** One device's rows of a class summed: its span runs from the first window's start to the last one's end. */
export function sumDeviceRows(rows: readonly DeviceVariantRow[]): WindowSums | null {
  if (rows.length === 0) return null;
  const total = (k: Exclude<keyof WindowSums, 'bytesSent' | 'bytesReceived'>) => rows.reduce((acc, r) => acc + r.sums[k], 0);
  const bytes = (k: 'bytesSent' | 'bytesReceived') =>
    rows.some((r) => r.sums[k] !== null) ? rows.reduce((acc, r) => acc + (r.sums[k] ?? 0), 0) : null;
  return {
    windows: total('windows'),
    sensorWindows: total('sensorWindows'),
    estimateWindows: total('estimateWindows'),
    simulatedWindows: total('simulatedWindows'),
    devices: 1,
    inferences: total('inferences'),
    energyJ: total('energyJ'),
    windowSeconds: total('windowSeconds'),
    spanSeconds: Math.max(...rows.map((r) => r.lastS)) - Math.min(...rows.map((r) => r.firstS)),
    bytesSent: bytes('bytesSent'),
    bytesReceived: bytes('bytesReceived'),
  };
}

const rank = (p: string | null) => {
  const i = PRECISION_ORDER.indexOf(p as Precision);
  return i < 0 ? PRECISION_ORDER.length : i;
};

/** Energy and cost per scenario and variant (M20); REST and tRPC call `report`. */
@Injectable()
export class EnergyService {
  constructor(
    @Inject(EnergyRepository) private readonly repo: EnergyRepository,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  private get tariff(): Tariff {
    const perKwh = this.config.ENERGY_TARIFF_PER_KWH;
    return perKwh === undefined ? null : { perKwh, currency: this.config.ENERGY_CURRENCY };
  }

  /** Over the devices of a token's `scope` only (none: the whole fleet): every sum and comparison is theirs. */
  async report(q: EnergyQuery, scope?: DeviceScope, now = new Date()): Promise<EnergyReport> {
    const since = new Date(now.getTime() - q.sinceHours * 3_600_000);
    const rows = await this.repo.variantSums(since, q.scenario ?? null, scope);
    const tariff = this.tariff;
    const byScenario = new Map<string, VariantEnergyRow[]>();
    for (const r of rows) byScenario.set(r.scenario, [...(byScenario.get(r.scenario) ?? []), r]);
    const scenarios: ScenarioEnergy[] = [...byScenario].map(([scenario, list]) => {
      const variants = list
        .map((r) => this.variantOf(r, tariff))
        .sort((a, b) => rank(a.precision) - rank(b.precision) || a.variantId.localeCompare(b.variantId));
      const current = list.filter((r) => r.current).map((r) => r.variantId);
      const pool = current.length > 0 ? variants.filter((v) => current.includes(v.variantId)) : variants;
      const base = pool.find((v) => v.precision === 'fp32') ?? pool[0] ?? null;
      const comparisons: EnergyComparison[] = [];
      if (base !== null) {
        for (const v of variants) {
          if (v.variantId === base.variantId) continue;
          comparisons.push(compare(v, base, 'observed', tariff));
          if (v.simulated.basis !== null && base.simulated.basis !== null) comparisons.push(compare(v, base, 'simulated', tariff));
        }
      }
      return { scenario, baselineVariantId: base?.variantId ?? null, variants, comparisons };
    });
    return { from: since.toISOString(), to: now.toISOString(), sinceHours: q.sinceHours, tariff, scenarios };
  }

  /** One device's energy per variant it ran and in all (M20 per device); a device that does not exist is a 404. */
  async deviceReport(deviceId: string, sinceHours: number, now = new Date()): Promise<DeviceEnergy> {
    const device = await this.repo.device(deviceId);
    if (!device) throw new AppError('not_found', `device ${deviceId} not found`);
    const since = new Date(now.getTime() - sinceHours * 3_600_000);
    const rows = await this.repo.deviceSums(deviceId, since);
    const tariff = this.tariff;
    const ids = [...new Set(rows.map((r) => r.variantId))];
    const variants = ids
      .map((id) => {
        const of = rows.filter((r) => r.variantId === id);
        const observed = of.find((r) => !r.sim) ?? null;
        const simulated = of.find((r) => r.sim) ?? null;
        const head = observed ?? simulated;
        return this.variantOf(
          {
            variantId: id,
            precision: head?.precision ?? null,
            method: head?.method ?? null,
            status: head?.status ?? null,
            sizeBytes: head?.sizeBytes ?? null,
            modelName: head?.modelName ?? null,
            modelVersion: head?.modelVersion ?? null,
            observed: observed?.sums ?? null,
            simulated: simulated?.sums ?? null,
          },
          tariff,
        );
      })
      .sort((a, b) => rank(a.precision) - rank(b.precision) || a.variantId.localeCompare(b.variantId));
    return {
      deviceId,
      deviceName: device.name,
      scenario: device.scenario,
      from: since.toISOString(),
      to: now.toISOString(),
      sinceHours,
      tariff,
      total: {
        observed: figuresOf(sumDeviceRows(rows.filter((r) => !r.sim)), tariff, 'observed'),
        simulated: figuresOf(sumDeviceRows(rows.filter((r) => r.sim)), tariff, 'simulated'),
      },
      variants,
    };
  }

  private variantOf(r: Omit<VariantEnergyRow, 'scenario' | 'current'>, tariff: Tariff): VariantEnergy {
    const precision = PrecisionSchema.safeParse(r.precision);
    return {
      variantId: r.variantId,
      precision: precision.success ? precision.data : null,
      method: r.method,
      status: r.status,
      modelName: r.modelName,
      modelVersion: r.modelVersion,
      storageBytes: r.sizeBytes,
      observed: figuresOf(r.observed, tariff, 'observed'),
      simulated: figuresOf(r.simulated, tariff, 'simulated'),
    };
  }
}
