'use client';

import { useQuery } from '@tanstack/react-query';
import { basisLabel, energyRows, sig } from '@/lib/energy';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { useTRPC } from '@/lib/trpc';
import { EnergyTable } from './energy-table';
import { QueryStatus } from './query-status';

/** The device's energy over the last 24 h (M20 per device): per inference and per day, each figure with its basis. */
export function DeviceEnergy({ id }: { id: string }) {
  const trpc = useTRPC();
  const r = useQuery(trpc.energy.device.queryOptions({ id, sinceHours: 24 }, { refetchInterval: POLL_INTERVAL_MS * 15 }));
  if (r.data === undefined) return <QueryStatus error={r.error} what="energy" />;
  const currency = r.data.tariff?.currency ?? null;
  const total = r.data.total.observed;
  return (
    <section data-testid="device-energy">
      <h2>Energy (last {r.data.sinceHours} h)</h2>
      <p data-testid="device-energy-total">
        {total.basis === null ? (
          <span className="muted">No energy figures: {total.reason}</span>
        ) : (
          <>
            <strong>{sig(total.energyPerInferenceMj, 'mJ')}</strong> per inference, <strong>{sig(total.kwhPerDay, 'kWh/day')}</strong> at
            its observed rate
            {currency !== null && total.costPerDay !== null ? ` (${sig(total.costPerDay, `${currency}/day`)})` : ''} ·{' '}
            <span className="muted">{basisLabel(total)}</span>
          </>
        )}
      </p>
      {r.data.variants.length > 0 && <EnergyTable rows={energyRows(r.data.variants, currency)} />}
    </section>
  );
}
