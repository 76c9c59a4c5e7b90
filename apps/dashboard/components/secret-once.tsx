'use client';

import { useState, type ReactNode } from 'react';

/**
 * A new secret (an API token's, a device's), shown once with a copy button: the page does not keep it
 * after "Done". `children` says whose secret it is and what to do with it. Test ids `<testId>`,
 * `-value`, `-copy` and `-done`.
 */
export function SecretOnce({
  testId,
  secret,
  onDone,
  children,
}: {
  testId: string;
  secret: string;
  onDone: () => void;
  children: ReactNode;
}) {
  const [copied, setCopied] = useState<boolean | null>(null);
  const copy = () => {
    // the clipboard API exists in secure contexts only (https, or the dashboard on localhost)
    const clipboard = typeof navigator === 'undefined' ? undefined : (navigator.clipboard as Clipboard | undefined);
    if (!clipboard) return setCopied(false);
    clipboard.writeText(secret).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };
  return (
    <div className="banner success" role="status" data-testid={testId}>
      {children}
      <p>
        <strong>Copy it now: it is not shown again.</strong>
      </p>
      <code className="secret" data-testid={`${testId}-value`}>
        {secret}
      </code>
      <div className="form-actions">
        <button type="button" className="button small" onClick={copy} data-testid={`${testId}-copy`}>
          Copy
        </button>
        <button type="button" className="button small" onClick={onDone} data-testid={`${testId}-done`}>
          Done
        </button>
        {copied !== null && (
          <span role={copied ? 'status' : 'alert'} data-testid={`${testId}-copied`}>
            {copied ? 'Copied to the clipboard.' : 'Could not copy: select the secret and copy it by hand.'}
          </span>
        )}
      </div>
    </div>
  );
}
