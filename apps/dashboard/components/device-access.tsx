'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { errorMessage, useTRPC } from '@/lib/trpc';

type Outcome = { ok: boolean; text: string };

/**
 * Revoke a device (asks first: it is cut off at once, refused at every CONNECT and download, its
 * retained messages cleared) or enable a revoked one again. The control plane's refusal, or a
 * broker that could not be told, is shown as it words it; the page's next poll shows the new status.
 */
export function DeviceAccess({ id, name, revoked }: { id: string; name: string; revoked: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const settle = {
    onMutate: () => setOutcome(null),
    onSettled: async () => {
      setConfirming(false);
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
  const busy = revoke.isPending || enable.isPending;
  return (
    <section className="rollout-controls" aria-label="Device access">
      {!confirming && (
        <div className="form-actions">
          {revoked ? (
            <button type="button" className="button" disabled={busy} data-testid="device-enable" onClick={() => enable.mutate({ id })}>
              {enable.isPending ? 'Enabling…' : 'Enable device'}
            </button>
          ) : (
            <button
              type="button"
              className="button danger"
              disabled={busy}
              data-testid="device-revoke"
              onClick={() => {
                setOutcome(null);
                setConfirming(true);
              }}
            >
              Revoke device
            </button>
          )}
        </div>
      )}
      {confirming && !revoked && (
        <div className="confirm" role="alertdialog" aria-label="Confirm revocation" data-testid="device-revoke-confirm">
          <p>Revoke {name}? It is disconnected at once and refused at every connection and download until it is enabled again.</p>
          <div className="form-actions">
            <button
              type="button"
              className="button danger"
              disabled={busy}
              data-testid="device-revoke-yes"
              onClick={() => revoke.mutate({ id })}
            >
              {revoke.isPending ? 'Revoking…' : 'Yes, revoke it'}
            </button>
            <button type="button" className="button" disabled={busy} data-testid="device-revoke-no" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
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
