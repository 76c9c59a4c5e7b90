'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { formatLatencyTarget, formatPercent, humanize } from '@/lib/format';
import { groupByTier, tierLabel } from '@/lib/policy-form';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { useTRPC, type Policy } from '@/lib/trpc';
import { PolicyForm } from './policy-form';
import { PolicyYaml } from './policy-yaml';
import { QueryStatus, RefreshError } from './query-status';

const COLUMNS = 10;

export function PolicyPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const policies = useQuery(trpc.policies.list.queryOptions(undefined, { refetchInterval: POLL_INTERVAL_MS }));
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  if (policies.data === undefined) return <QueryStatus error={policies.error} what="policies" />;
  const items = policies.data.items;
  // What a save or import returned goes into the cache at once, so the table never lags the message.
  const applied = (update: (items: Policy[]) => Policy[], message: string) => {
    queryClient.setQueryData(trpc.policies.list.queryKey(), (old) => (old ? { items: update(old.items) } : old));
    setNotice(message);
  };

  return (
    <>
      <h1>Policies</h1>
      <p className="muted intro">
        One risk-tier policy per scenario. A change applies to new assignment decisions for the scenario&apos;s devices and is audited with
        your operator token.
      </p>
      <RefreshError error={policies.error} />
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
                            onSaved={(saved) => {
                              setEditing(null);
                              applied(
                                (old) => old.map((x) => (x.scenario === saved.scenario ? saved : x)),
                                `Saved the ${humanize(p.scenario)} policy.`,
                              );
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
          applied(
            () => next,
            `Imported ${updated.length} ${updated.length === 1 ? 'policy' : 'policies'}: ${updated.map(humanize).join(', ')}.`,
          )
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
