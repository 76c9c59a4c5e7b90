import type { HardwareProfile } from './schemas.js';

/**
 * Named hardware presets modelled on the brief's figures (edge: 10–100 TOPS, 0.5–5 W,
 * 1–32 MB SRAM, DRAM up to a few GB; data centre: 100–1000 TOPS, 50–500 W, 16–256 GB).
 * Power figures here are the basis of a labelled *estimate*, never presented as measured.
 */
export const HARDWARE_PRESETS = {
  'edge-npu-trading': {
    name: 'Edge NPU trading box',
    hardwareClass: 'edge-npu-40t',
    accelerator: 'npu',
    tops: 40,
    sramMb: 32,
    dramMb: 4096,
    powerBudgetW: 5,
    idlePowerW: 1.2,
    activePowerW: 4.5,
    precisions: ['fp32', 'fp16', 'int8'],
    cpuCores: 4,
  },
  'edge-dsa-vehicle': {
    name: 'Vehicle DSA module',
    hardwareClass: 'edge-dsa-100t',
    accelerator: 'dsa',
    tops: 100,
    sramMb: 16,
    dramMb: 8192,
    powerBudgetW: 5,
    idlePowerW: 1.5,
    activePowerW: 4.8,
    precisions: ['fp32', 'fp16', 'int8', 'int4'],
    cpuCores: 8,
  },
  'edge-gpu-kiosk': {
    name: 'Kiosk edge GPU',
    hardwareClass: 'edge-gpu-20t',
    accelerator: 'gpu',
    tops: 20,
    sramMb: 4,
    dramMb: 8192,
    powerBudgetW: 15,
    idlePowerW: 3,
    activePowerW: 12,
    precisions: ['fp32', 'fp16', 'int8'],
    cpuCores: 6,
  },
  'robot-npu-arm': {
    name: 'Robot arm NPU',
    hardwareClass: 'edge-npu-10t',
    accelerator: 'npu',
    tops: 10,
    sramMb: 2,
    dramMb: 1024,
    powerBudgetW: 5,
    idlePowerW: 0.5,
    activePowerW: 3.2,
    precisions: ['fp32', 'fp16', 'int8', 'int4'],
    cpuCores: 4,
  },
  'cloud-gpu-node': {
    name: 'Cloud GPU node',
    hardwareClass: 'dc-gpu-500t',
    accelerator: 'gpu',
    tops: 500,
    sramMb: 64,
    dramMb: 262144,
    powerBudgetW: 400,
    idlePowerW: 80,
    activePowerW: 320,
    precisions: ['fp32', 'fp16', 'int8', 'int4'],
    cpuCores: 32,
    location: 'cloud',
  },
  'cloud-cpu-node': {
    name: 'Cloud CPU node',
    hardwareClass: 'dc-cpu-100t',
    accelerator: 'cpu',
    tops: 100,
    sramMb: 0,
    dramMb: 65536,
    powerBudgetW: 200,
    idlePowerW: 50,
    activePowerW: 150,
    precisions: ['fp32', 'int8'],
    cpuCores: 16,
    location: 'cloud',
  },
} as const satisfies Record<string, HardwareProfile>;

export type HardwarePresetName = keyof typeof HARDWARE_PRESETS;

export function isHardwarePreset(name: string): name is HardwarePresetName {
  return Object.hasOwn(HARDWARE_PRESETS, name);
}

/** A copy of a preset, mutable arrays included. */
export function hardwarePreset(name: HardwarePresetName): HardwareProfile {
  const p = HARDWARE_PRESETS[name];
  return { ...p, precisions: [...p.precisions] };
}
