'use client';

import { useQuery } from '@tanstack/react-query';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { overrideLabel } from '@/lib/remediation';
import { useTRPC } from '@/lib/trpc';
import { QueryStatus } from './query-status';
import { ActionTable } from './remediation-log';

/** The device page's remediation state: what is in effect now, and its latest actions (why, did it help). */
export function DeviceRemediation({ id }: { id: string }) {
  const trpc = useTRPC();
  const r = useQuery(trpc.remediation.device.queryOptions({ id }, { refetchInterval: POLL_INTERVAL_MS }));
  if (r.data === undefined) return <QueryStatus error={r.error} what="remediation" />;
  return (
    <section data-testid="device-remediation">
      <h2>Remediation</h2>
      <p>
        In effect: <strong data-testid="remediation-override">{overrideLabel(r.data.override)}</strong>
      </p>
      <ActionTable items={r.data.actions} />
    </section>
  );
}
