'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { policyExportFileName, yamlDataUrl } from '@/lib/download';
import { errorCode, errorMessage, useTRPCClient, type Policy } from '@/lib/trpc';

/** The API's limit on an imported document. */
const MAX_YAML_CHARS = 262_144;

type ImportOutcome = { ok: true; updated: string[]; rules: string; remediation: string[] } | { ok: false; error: string };

/** Export the whole policy set as YAML, and import one back (all or nothing: the server applies every scenario or none). */
export function PolicyYaml({ onImported }: { onImported: (items: Policy[], updated: string[]) => void }) {
  const router = useRouter();
  const client = useTRPCClient();
  const [exported, setExported] = useState<{ yaml: string; at: Date } | null>(null);
  const [exportError, setExportError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const [text, setText] = useState('');
  const [importing, setImporting] = useState(false);
  const [outcome, setOutcome] = useState<ImportOutcome | null>(null);

  /** Runs a call; an expired session goes to sign-in, any other failure comes back as a message. */
  const run = async <T,>(call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string } | null> => {
    try {
      return { ok: true, value: await call() };
    } catch (e) {
      if (errorCode(e) === 'UNAUTHORIZED') {
        router.replace('/login');
        return null;
      }
      return { ok: false, error: errorMessage(e) };
    }
  };

  const exportYaml = async () => {
    setExporting(true);
    const r = await run(() => client.policies.exportYaml.query());
    setExporting(false);
    if (!r) return;
    if (r.ok) {
      setExported({ yaml: r.value.yaml, at: new Date() });
      setExportError(null);
    } else setExportError(r.error);
  };

  const importYaml = async () => {
    setImporting(true);
    setOutcome(null);
    const r = await run(() => client.policies.importYaml.mutate({ yaml: text }));
    setImporting(false);
    if (!r) return;
    if (r.ok) {
      const { created, updated, deleted } = r.value.alertRules;
      setOutcome({
        ok: true,
        updated: r.value.updated,
        rules: `${created.length} created, ${updated.length} changed, ${deleted.length} deleted`,
        remediation: r.value.remediation,
      });
      onImported(r.value.items, r.value.updated);
    } else setOutcome({ ok: false, error: r.error });
  };

  return (
    <section className="yaml-panels">
      <div className="panel">
        <h2>Export YAML</h2>
        <p className="muted">The policy set in the deployment-strategy shape: risk tier → scenario → settings.</p>
        <div className="form-actions">
          <button
            type="button"
            className="button"
            disabled={exporting}
            data-testid="policy-export-button"
            onClick={() => void exportYaml()}
          >
            {exporting ? 'Exporting…' : exported ? 'Export again' : 'Export YAML'}
          </button>
          {exported && (
            <>
              <a
                className="button"
                href={yamlDataUrl(exported.yaml)}
                download={policyExportFileName(exported.at)}
                data-testid="policy-download"
              >
                Download {policyExportFileName(exported.at)}
              </a>
              <button type="button" className="button" onClick={() => setText(exported.yaml)}>
                Copy into import
              </button>
            </>
          )}
        </div>
        {exportError && (
          <p className="error" role="alert" data-testid="policy-export-error">
            {exportError}
          </p>
        )}
        {exported && (
          <textarea
            className="yaml"
            readOnly
            rows={18}
            value={exported.yaml}
            aria-label="Exported policy YAML"
            data-testid="policy-export"
          />
        )}
      </div>
      <div className="panel">
        <h2>Import YAML</h2>
        <p className="muted">Every scenario in the document is replaced; if any part is invalid, nothing is changed.</p>
        <textarea
          className="yaml"
          rows={18}
          maxLength={MAX_YAML_CHARS}
          spellCheck={false}
          placeholder={'deployment_strategy:\n  high_risk:\n    financial_trading:\n      latency_target: p99 < 10ms\n      …'}
          aria-label="Policy YAML to import"
          data-testid="policy-import"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <div className="form-actions">
          <button
            type="button"
            className="button primary"
            disabled={importing || text.trim() === ''}
            data-testid="policy-import-submit"
            onClick={() => void importYaml()}
          >
            {importing ? 'Importing…' : 'Import YAML'}
          </button>
          {outcome?.ok === true && (
            <p className="success" role="status" data-testid="policy-import-result">
              Imported {outcome.updated.length} {outcome.updated.length === 1 ? 'scenario' : 'scenarios'}: {outcome.updated.join(', ')}.
              Alert rules: {outcome.rules}. Remediation changed: {outcome.remediation.length ? outcome.remediation.join(', ') : 'none'}.
            </p>
          )}
          {outcome?.ok === false && (
            <p className="error" role="alert" data-testid="policy-import-error">
              Nothing was imported: {outcome.error}
            </p>
          )}
        </div>
      </div>
    </section>
  );
}
