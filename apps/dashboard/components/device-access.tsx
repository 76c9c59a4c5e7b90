'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { errorMessage, useTRPC } from '@/lib/trpc';
import { ConfirmDialog } from './confirm-dialog';
import { SecretOnce } from './secret-once';

type Outcome = { ok: boolean; text: string };

/**
 * Revoke a device (asks first: it is cut off at once, refused at every CONNECT and download, its
 * retained messages cleared) or enable a revoked one again (operator, admin); rotate its secret
 * (admin; asks first, then shows the new secret once). Each control is shown only to the roles the
 * control plane lets through. The control plane's refusal, or a broker that could not be told, is
 * shown as it words it; the page's next poll shows the new status.
 */
export function DeviceAccess({ id, name, revoked }: { id: string; name: string; revoked: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.session.me.queryOptions(undefined, { staleTime: 60_000 }));
  const role = me.data?.role;
  const [confirming, setConfirming] = useState<'revoke' | 'rotate' | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const settle = {
    onMutate: () => setOutcome(null),
    onSettled: async () => {
      setConfirming(null);
      await queryClient.invalidateQueries({ queryKey: trpc.devices.get.queryKey({ id }) });
    },
  };
  const revoke = useMutation(
    trpc.devices.revoke.mutationOptions({
      ...settle,
      onSuccess: () => setOutcome({ ok: true, text: 'Device revoked: it was disconnected and can no longer connect or download.' }),
      onError: (e) => setOutcome({ ok: false, text: `Could not revoke the device: ${errorMessage(e)}` }),
    }),
  );
  const enable = useMutation(
    trpc.devices.enable.mutationOptions({
      ...settle,
      onSuccess: () => setOutcome({ ok: true, text: 'Device enabled: it may connect again.' }),
      onError: (e) => setOutcome({ ok: false, text: `Could not enable the device: ${errorMessage(e)}` }),
    }),
  );
  // the new secret lives in this mutation's result only, until "Done" resets it
  const rotate = useMutation(
    trpc.devices.rotateSecret.mutationOptions({
      ...settle,
      onError: (e) => setOutcome({ ok: false, text: `Could not rotate the device's secret: ${errorMessage(e)}` }),
    }),
  );
  const operates = role === 'operator' || role === 'admin';
  const admin = role === 'admin';
  if (!operates && !outcome) return null;
  const busy = revoke.isPending || enable.isPending || rotate.isPending;
  const ask = (what: 'revoke' | 'rotate') => {
    setOutcome(null);
    rotate.reset();
    setConfirming(what);
  };
  return (
    <section className="rollout-controls" aria-label="Device access">
      {operates && confirming === null && (
        <div className="form-actions">
          {revoked ? (
            <button type="button" className="button" disabled={busy} data-testid="device-enable" onClick={() => enable.mutate({ id })}>
              {enable.isPending ? 'Enabling…' : 'Enable device'}
            </button>
          ) : (
            <button type="button" className="button danger" disabled={busy} data-testid="device-revoke" onClick={() => ask('revoke')}>
              Revoke device
            </button>
          )}
          {admin && (
            <button type="button" className="button" disabled={busy} data-testid="device-rotate-secret" onClick={() => ask('rotate')}>
              Rotate secret
            </button>
          )}
        </div>
      )}
      {confirming === 'revoke' && !revoked && (
        <ConfirmDialog
          testId="device-revoke"
          label="Confirm revocation"
          yes={{ label: 'Yes, revoke it', pending: 'Revoking…' }}
          pending={revoke.isPending}
          busy={busy}
          onYes={() => revoke.mutate({ id })}
          onNo={() => setConfirming(null)}
        >
          <p>Revoke {name}? It is disconnected at once and refused at every connection and download until it is enabled again.</p>
        </ConfirmDialog>
      )}
      {confirming === 'rotate' && (
        <ConfirmDialog
          testId="device-rotate"
          label="Confirm secret rotation"
          yes={{ label: 'Yes, rotate the secret', pending: 'Rotating…' }}
          pending={rotate.isPending}
          busy={busy}
          onYes={() => rotate.mutate({ id })}
          onNo={() => setConfirming(null)}
        >
          <p>
            Give {name} a new secret? The old one is refused from now on: its live session ends at once, and the agent is refused (it backs
            off and keeps its telemetry) until the new secret is installed on it out of band — it is not sent to the device — or the device
            is enrolled again. The new secret is shown once.
          </p>
        </ConfirmDialog>
      )}
      {rotate.data && (
        <SecretOnce testId="device-secret" secret={rotate.data.deviceSecret} onDone={() => rotate.reset()}>
          <p>
            The new secret of <strong>{name}</strong>. Install it on the device: set <code>deviceSecret</code> in the agent&apos;s{' '}
            <code>&lt;dataDir&gt;/credentials.json</code> (mode 0600) and restart the agent.
          </p>
        </SecretOnce>
      )}
      {outcome && (
        <p
          className={`banner ${outcome.ok ? 'success' : 'error'}`}
          role={outcome.ok ? 'status' : 'alert'}
          data-testid="device-access-outcome"
        >
          {outcome.text}
        </p>
      )}
    </section>
  );
}
