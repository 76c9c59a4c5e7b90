'use client';

import type { ReactNode } from 'react';

/**
 * The question before a change that cannot be taken back (revoke a device, rotate its secret, abort a
 * rollout): the question, a danger button and Cancel. Test ids `<testId>-confirm`, `-yes` and `-no`.
 */
export function ConfirmDialog({
  testId,
  label,
  yes,
  pending,
  busy,
  onYes,
  onNo,
  children,
}: {
  testId: string;
  /** What the dialog asks, for assistive technology ("Confirm revocation"). */
  label: string;
  /** The yes button's text, and its text while the change runs. */
  yes: { label: string; pending: string };
  /** The change is running: the yes button says so. */
  pending: boolean;
  /** Any change of the same control is running: both buttons wait. */
  busy: boolean;
  onYes: () => void;
  onNo: () => void;
  children: ReactNode;
}) {
  return (
    <div className="confirm" role="alertdialog" aria-label={label} data-testid={`${testId}-confirm`}>
      {children}
      <div className="form-actions">
        <button type="button" className="button danger" disabled={busy} data-testid={`${testId}-yes`} onClick={onYes}>
          {pending ? yes.pending : yes.label}
        </button>
        <button type="button" className="button" disabled={busy} data-testid={`${testId}-no`} onClick={onNo}>
          Cancel
        </button>
      </div>
    </div>
  );
}
