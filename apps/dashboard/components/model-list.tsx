'use client';

import { formatBytes, formatDateTime, humanize } from '@/lib/format';
import { trpc, type ModelVersion } from '@/lib/trpc';
import { usePolling } from '@/lib/use-polling';
import { PollStatus } from './poll-status';

/** "input_ids int64[1×128], mask bool[1×128]" */
function inputsSummary(inputs: ModelVersion['inputs']): string {
  return inputs.map((i) => `${i.name} ${i.dtype}[${i.shape.join('×')}]`).join(', ');
}

export function ModelList() {
  const state = usePolling((signal) => trpc.models.list.query(undefined, { signal }), 'models');
  if (state.status !== 'ok') return <PollStatus state={state} what="model versions" />;
  const items = state.data.items;
  return (
    <>
      <h1>Models</h1>
      {state.error && <p className="banner error">Refresh failed: {state.error}</p>}
      {items.length === 0 ? (
        <p className="empty-state">No model versions are registered yet. Upload an FP32 ONNX model through the API or CLI.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Model</th>
              <th>Version</th>
              <th>Created</th>
              <th>Inputs</th>
              <th>Variants</th>
              <th>Used by</th>
            </tr>
          </thead>
          <tbody>
            {items.map((m) => (
              <tr key={m.id} data-testid="model-row">
                <td>{m.name}</td>
                <td>{m.version}</td>
                <td>{formatDateTime(m.createdAt)}</td>
                <td className="wrap">{inputsSummary(m.inputs)}</td>
                <td>
                  {m.variants.length === 0 ? (
                    '—'
                  ) : (
                    <ul className="plain">
                      {m.variants.map((v) => (
                        <li key={v.id}>
                          <strong>{v.precision}</strong> {formatBytes(v.sizeBytes)} <code title={v.sha256}>{v.sha256.slice(0, 12)}</code>{' '}
                          {v.status !== 'ready' && <span className="muted">({v.status})</span>}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>{m.scenarios.length === 0 ? <span className="muted">no scenario</span> : m.scenarios.map(humanize).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
