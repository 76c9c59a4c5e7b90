import {
  chooseVariant,
  ScenarioPolicySchema,
  type AssignmentContext,
  type AssignmentDecision,
  type VariantCandidate,
} from '@edge-fleet/shared';
import type { PolicyView } from '../policies/policy.repository.js';
import type { VariantChoice } from '../desired-state/desired-state.builder.js';
import type { AssignableDevice, VersionVariants } from './assignment.repository.js';

export interface DeviceDecision {
  device: AssignableDevice;
  decision: AssignmentDecision;
  choice: VariantChoice | null;
}

/** The builder's variants (and the fleet's measurements of them) as assignment candidates. */
export function candidatesOf(v: VersionVariants, fleet: Map<string, VariantCandidate['fleet']>): VariantCandidate[] {
  return v.variants
    .filter((x) => x.sha256 !== null && x.sizeBytes !== null && (x.status === 'ready' || x.status === 'unusable'))
    .map((x) => {
      const m = x.measured;
      return {
        variantId: x.id,
        precision: x.precision as VariantCandidate['precision'],
        sizeBytes: x.sizeBytes ?? 0,
        usable: x.status === 'ready',
        ...(x.reason ? { unusableReason: x.reason } : {}),
        // p95 falls back to p99, an upper bound, where the builder did not record it
        reference: m
          ? {
              p50: m.latencyMs.p50,
              p95: m.latencyMs.p95 ?? m.latencyMs.p99,
              p99: m.latencyMs.p99,
              machine: `${m.machine}, ${m.threads} thread(s)`,
              runs: m.runs,
              ...(m.referenceBenchmark ? { benchmark: { model: m.referenceBenchmark.model, p50Ms: m.referenceBenchmark.p50Ms } } : {}),
            }
          : null,
        agreement: m?.agreement ? { cosine: m.agreement.cosine, top1: m.agreement.top1 } : null,
        ...(fleet.get(x.id) ? { fleet: fleet.get(x.id) } : {}),
      };
    });
}

/** Decides, for every device, which variant of the model version it runs (pure). */
export function planAssignments(
  devices: AssignableDevice[],
  policyView: PolicyView,
  v: VersionVariants,
  fleet: Map<string, VariantCandidate['fleet']>,
  ctx: AssignmentContext,
): DeviceDecision[] {
  const { model: _model, ...settings } = policyView;
  const policy = ScenarioPolicySchema.parse(settings);
  const candidates = candidatesOf(v, fleet);
  return devices.map((device) => {
    const decision = chooseVariant(device.hardwareProfile, policy, candidates, ctx, device.measurements);
    if (decision.kind === 'refuse') return { device, decision, choice: null };
    const variant = v.variants.find((x) => x.id === decision.variantId);
    const choice: VariantChoice | null =
      variant?.sha256 && variant.sizeBytes
        ? {
            modelId: v.modelId,
            modelVersionId: v.modelVersionId,
            variantId: variant.id,
            name: v.name,
            version: v.version,
            precision: variant.precision,
            sha256: variant.sha256,
            sizeBytes: variant.sizeBytes,
            inputs: v.inputs,
          }
        : null;
    return { device, decision, choice };
  });
}
