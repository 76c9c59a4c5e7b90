import type { ScenarioEnergy } from '@/lib/api-types';
import { energyRows, type EnergyRow } from '@/lib/energy';
import { humanize } from '@/lib/format';

/** One scenario's variants (each figure with its basis) and the comparison sentences. Strings are rendered as text. */
export function EnergyScenario({ s, currency }: { s: ScenarioEnergy; currency: string | null }) {
  const rows = energyRows(s.variants, currency);
  return (
    <section data-testid="energy-scenario">
      <h2>{humanize(s.scenario)}</h2>
      <EnergyTable rows={rows} />
      {s.comparisons.length > 0 ? (
        <ul data-testid="energy-comparisons">
          {s.comparisons.map((c) => (
            <li key={`${c.variantId}:${c.kind}`}>{c.sentence ?? <span className="muted">No comparison: {c.omitted}</span>}</li>
          ))}
        </ul>
      ) : (
        <p className="muted">No variant to compare with the baseline.</p>
      )}
    </section>
  );
}

/** Variants' figures, one row per variant and kind of window, each with its basis. */
export function EnergyTable({ rows }: { rows: readonly EnergyRow[] }) {
  return (
    <table>
      <thead>
        <tr>
          <th>Variant</th>
          <th className="num">Artifact</th>
          <th className="num">Inferences</th>
          <th className="num">Mean power</th>
          <th className="num">Energy</th>
          <th className="num">Per inference</th>
          <th className="num">Per day</th>
          <th className="num">Cost per day</th>
          <th className="num" title="request and answer bodies forwarded to cloud nodes, measured by the devices">
            Forwarded traffic
          </th>
          <th>Basis</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key} data-testid="energy-row">
            <td className="wrap">{r.kind === 'simulated' ? `${r.variant} (simulated)` : r.variant}</td>
            <td className="num">{r.storage}</td>
            <td className="num">{r.inferences}</td>
            <td className="num">{r.meanPower}</td>
            <td className="num">{r.energy}</td>
            <td className="num">{r.perInference}</td>
            <td className="num">{r.perDay}</td>
            <td className="num">{r.costPerDay}</td>
            <td className="num">{r.traffic}</td>
            <td className="wrap">
              {r.basis}
              {r.note ? <span className="muted"> · {r.note}</span> : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
