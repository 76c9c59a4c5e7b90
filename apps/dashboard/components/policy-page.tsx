'use client';

import { Fragment, useState } from 'react';
import { formatLatencyTarget, formatPercent, humanize } from '@/lib/format';
import { groupByTier, tierLabel } from '@/lib/policy-form';
import { trpc, type Policy } from '@/lib/trpc';
import { usePolling } from '@/lib/use-polling';
import { PolicyForm } from './policy-form';
import { PolicyYaml } from './policy-yaml';
import { PollStatus } from './poll-status';

const COLUMNS = 10;

export function PolicyPage() {
  const state = usePolling((signal) => trpc.policies.list.query(undefined, { signal }), 'policies');
  // What a save or import returned, shown until the next poll answers (so the table never lags the message).
  const [fresh, setFresh] = useState<{ items: Policy[]; basedOn: unknown } | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  if (state.status !== 'ok') return <PollStatus state={state} what="policies" />;
  const items = fresh && fresh.basedOn === state.data ? fresh.items : state.data.items;
  const applied = (next: Policy[], message: string) => {
    setFresh({ items: next, basedOn: state.data });
    setNotice(message);
  };

  return (
    <>
      <h1>Policies</h1>
      <p className="muted intro">
        One risk-tier policy per scenario. A change applies to new assignment decisions for the scenario&apos;s devices and is audited with
        your operator token.
      </p>
      {state.error && <p className="banner error">Refresh failed: {state.error}</p>}
      {notice && (
        <p className="banner success" role="status" data-testid="policy-saved">
          {notice}
        </p>
      )}
      {items.length === 0 ? (
        <p className="empty-state">No policies are defined.</p>
      ) : (
        <table data-testid="policy-table">
          <thead>
            <tr>
              <th>Scenario</th>
              <th>Latency target</th>
              <th>Location</th>
              <th>Precision order</th>
              <th>Memory placement</th>
              <th className="num">Max error rate</th>
              <th className="num">Power budget</th>
              <th className="num">Accuracy floor</th>
              <th>Model</th>
              <th aria-label="actions" />
            </tr>
          </thead>
          <tbody>
            {groupByTier(items).map((group) => (
              <Fragment key={group.tier}>
                <tr className="group-row">
                  <th colSpan={COLUMNS} scope="colgroup">
                    <span className={`badge tier-${group.tier}`}>{tierLabel(group.tier)}</span>
                  </th>
                </tr>
                {group.rows.map((p) => (
                  <Fragment key={p.scenario}>
                    <PolicyRow
                      p={p}
                      editing={editing === p.scenario}
                      onEdit={() => {
                        setEditing(editing === p.scenario ? null : p.scenario);
                        setNotice(null);
                      }}
                    />
                    {editing === p.scenario && (
                      <tr className="edit-row">
                        <td colSpan={COLUMNS}>
                          <PolicyForm
                            policy={p}
                            onCancel={() => setEditing(null)}
                            onSaved={(next) => {
                              setEditing(null);
                              applied(next, `Saved the ${humanize(p.scenario)} policy.`);
                            }}
                          />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      <PolicyYaml
        onImported={(next, updated) =>
          applied(next, `Imported ${updated.length} ${updated.length === 1 ? 'policy' : 'policies'}: ${updated.map(humanize).join(', ')}.`)
        }
      />
    </>
  );
}

function PolicyRow({ p, editing, onEdit }: { p: Policy; editing: boolean; onEdit: () => void }) {
  return (
    <tr data-testid={`policy-row-${p.scenario}`}>
      <td>{humanize(p.scenario)}</td>
      <td>{formatLatencyTarget(p.latencyPercentile, p.latencyTargetMs)}</td>
      <td>{p.location}</td>
      <td>{p.precisionOrder.join(' → ')}</td>
      <td>{p.memoryPlacement}</td>
      <td className="num" title={String(p.errorRateMax)}>
        {formatPercent(p.errorRateMax)}
      </td>
      <td className="num">{p.powerBudgetW === null ? <span className="muted">hardware budget</span> : `${p.powerBudgetW} W`}</td>
      <td className="num">{p.accuracyFloor}</td>
      <td>{p.model ? `${p.model.name} ${p.model.version}` : <span className="muted">no model</span>}</td>
      <td>
        <button type="button" className="button" aria-expanded={editing} data-testid={`policy-edit-${p.scenario}`} onClick={onEdit}>
          {editing ? 'Close' : 'Edit'}
        </button>
      </td>
    </tr>
  );
}
