'use client';

import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '@/lib/trpc';
import { EnergyScenario } from './energy-table';
import { QueryStatus, RefreshError } from './query-status';

const PERIODS = [1, 6, 24, 168, 720] as const;
const REFRESH_MS = 30_000;

/** Energy and cost per scenario and variant from the stored telemetry windows (M20). */
export function EnergyPage() {
  const trpc = useTRPC();
  const [sinceHours, setSinceHours] = useState<number>(24);
  const report = useQuery(trpc.energy.report.queryOptions({ sinceHours }, { refetchInterval: REFRESH_MS }));
  const data = report.data;
  return (
    <>
      <header className="page-header">
        <h1>Energy</h1>
        <label>
          Period{' '}
          <select value={sinceHours} onChange={(e) => setSinceHours(Number(e.target.value))} data-testid="energy-period">
            {PERIODS.map((p) => (
              <option key={p} value={p}>
                last {p < 24 ? `${p} h` : `${p / 24} d`}
              </option>
            ))}
          </select>
        </label>
      </header>
      <p className="muted intro">
        Energy from the devices&apos; telemetry windows (power × window length). <strong>Measured</strong>: every window&apos;s power came
        from a sensor; <strong>estimated</strong>: at least one came from the hardware profile&apos;s estimate; simulated figures are shown
        apart. Per day: the period&apos;s energy projected to 24 h at the observed rate. Comparisons put each variant against the
        scenario&apos;s FP32 variant at the same inference rate.
      </p>
      {data !== undefined ? (
        <>
          <RefreshError error={report.error} />
          <p className="muted" data-testid="energy-tariff">
            {data.tariff
              ? `Tariff: ${data.tariff.perKwh} ${data.tariff.currency}/kWh`
              : 'No tariff configured (ENERGY_TARIFF_PER_KWH): costs are not shown.'}
          </p>
          {data.scenarios.length === 0 ? (
            <p className="empty-state">No scenario has a model or telemetry in the period.</p>
          ) : (
            data.scenarios.map((s) => <EnergyScenario key={s.scenario} s={s} currency={data.tariff?.currency ?? null} />)
          )}
        </>
      ) : (
        <QueryStatus error={report.error} what="energy report" />
      )}
    </>
  );
}
