import { z } from 'zod';
import { DeviceIdSchema, PrecisionSchema, ScenarioSchema } from '../schemas.js';

/** REST `GET /api/v1/energy` query and the tRPC `energy.report` input. */
export const EnergyQuerySchema = z.strictObject({
  /** Absent: every scenario with a policy or with windows in the period. */
  scenario: ScenarioSchema.optional(),
  sinceHours: z.coerce
    .number({ error: 'sinceHours must be a number of hours' })
    .int('sinceHours must be whole hours')
    .min(1, 'sinceHours must be at least 1')
    .max(720, 'sinceHours must be at most 720 (30 days)')
    .default(24),
});
export type EnergyQuery = z.infer<typeof EnergyQuerySchema>;

/**
 * How a figure was obtained. `measured`: every window's power came from a sensor; `estimated`: at
 * least one came from the hardware profile's estimate; `simulated`: the fleet simulator's, never
 * mixed with the other two.
 */
export const EnergyBasisSchema = z.enum(['measured', 'estimated', 'simulated']);
export type EnergyBasis = z.infer<typeof EnergyBasisSchema>;

/** One variant's figures over the period, from one class of windows (real or simulated). */
export const EnergyFiguresSchema = z.object({
  basis: EnergyBasisSchema.nullable().describe('null: no windows, every figure is null'),
  windows: z.number().int(),
  sensorWindows: z.number().int(),
  estimateWindows: z.number().int(),
  simulatedWindows: z.number().int(),
  devices: z.number().int(),
  inferences: z.number().int(),
  /** Σ window lengths (device-seconds). */
  windowSeconds: z.number().nullable(),
  /** Wall-clock span from the first window's start to the last window's end. */
  spanSeconds: z.number().nullable(),
  /** Time-weighted: energy ÷ window seconds. */
  meanPowerW: z.number().nullable(),
  /** Σ powerW × window seconds. */
  energyJ: z.number().nullable(),
  energyPerInferenceMj: z.number().nullable().describe('null when no inference ran'),
  /** Inferences per second over the span, all devices together. */
  ratePerSecond: z.number().nullable(),
  /** The energy of the span projected to 24 h at the observed rate. */
  kwhPerDay: z.number().nullable(),
  costPerDay: z.number().nullable().describe('null without a configured tariff'),
  /** Measured by the devices: request bodies forwarded to cloud nodes (hybrid placement) and answer bodies received. */
  trafficBytesSent: z.number().nullable().describe('null: no window reported forwarded traffic'),
  trafficBytesReceived: z.number().nullable(),
  reason: z.string().nullable().describe('why figures are null'),
});
export type EnergyFigures = z.infer<typeof EnergyFiguresSchema>;

export const VariantEnergySchema = z.object({
  variantId: z.string(),
  precision: PrecisionSchema.nullable(),
  method: z.string().nullable(),
  status: z.string().nullable().describe('null: the windows name a variant the control plane does not know'),
  modelName: z.string().nullable(),
  modelVersion: z.string().nullable(),
  /** The artifact's size in the variant table; null while building or not applicable. */
  storageBytes: z.number().int().nullable(),
  observed: EnergyFiguresSchema.describe('windows whose power came from a sensor or the estimate'),
  simulated: EnergyFiguresSchema.describe("the fleet simulator's windows, kept apart"),
});
export type VariantEnergy = z.infer<typeof VariantEnergySchema>;

/** One variant against the scenario's baseline at the variant's observed rate. */
export const EnergyComparisonSchema = z.object({
  variantId: z.string(),
  precision: PrecisionSchema.nullable(),
  baselineVariantId: z.string(),
  baselinePrecision: PrecisionSchema.nullable(),
  kind: z.enum(['observed', 'simulated']),
  ratePerSecond: z.number().nullable(),
  variantKwhPerDay: z.number().nullable(),
  baselineKwhPerDay: z.number().nullable(),
  /** Positive: the variant uses less; negative: more. */
  savedKwhPerDay: z.number().nullable(),
  savedCostPerDay: z.number().nullable(),
  variantBasis: EnergyBasisSchema.nullable(),
  baselineBasis: EnergyBasisSchema.nullable(),
  sentence: z.string().nullable(),
  omitted: z.string().nullable().describe('why there is no comparison'),
});
export type EnergyComparison = z.infer<typeof EnergyComparisonSchema>;

export const ScenarioEnergySchema = z.object({
  scenario: z.string(),
  baselineVariantId: z.string().nullable().describe("the scenario's FP32 variant, else its first"),
  variants: z.array(VariantEnergySchema),
  comparisons: z.array(EnergyComparisonSchema),
});
export type ScenarioEnergy = z.infer<typeof ScenarioEnergySchema>;

export const EnergyReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  sinceHours: z.number().int(),
  tariff: z.object({ perKwh: z.number(), currency: z.string() }).nullable().describe('null: ENERGY_TARIFF_PER_KWH unset'),
  scenarios: z.array(ScenarioEnergySchema),
});
export type EnergyReport = z.infer<typeof EnergyReportSchema>;

/** The figures of a variant without windows of a kind: every figure null, and why. */
export function noEnergyFigures(reason: string): EnergyFigures {
  return {
    basis: null,
    windows: 0,
    sensorWindows: 0,
    estimateWindows: 0,
    simulatedWindows: 0,
    devices: 0,
    inferences: 0,
    windowSeconds: null,
    spanSeconds: null,
    meanPowerW: null,
    energyJ: null,
    energyPerInferenceMj: null,
    ratePerSecond: null,
    kwhPerDay: null,
    costPerDay: null,
    trafficBytesSent: null,
    trafficBytesReceived: null,
    reason,
  };
}

/** REST `GET /api/v1/energy/devices/{id}` query; tRPC `energy.device` adds the id. */
export const DeviceEnergyQuerySchema = EnergyQuerySchema.pick({ sinceHours: true });
export const DeviceEnergyInputSchema = DeviceEnergyQuerySchema.extend({ id: DeviceIdSchema });

/**
 * One device's energy over the period (M20 "per device"): per variant it ran, and all its windows
 * together; the same figures and bases as the scenario report. Windows without a loaded model are
 * not counted (as in the scenario report).
 */
export const DeviceEnergySchema = z.object({
  deviceId: z.string(),
  deviceName: z.string(),
  scenario: z.string(),
  from: z.string(),
  to: z.string(),
  sinceHours: z.number().int(),
  tariff: EnergyReportSchema.shape.tariff,
  /** Every variant's windows of the device together (each class apart). */
  total: z.object({ observed: EnergyFiguresSchema, simulated: EnergyFiguresSchema }),
  variants: z.array(VariantEnergySchema),
});
export type DeviceEnergy = z.infer<typeof DeviceEnergySchema>;
