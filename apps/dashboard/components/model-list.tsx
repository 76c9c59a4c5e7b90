'use client';

import { formatDateTime, humanize } from '@/lib/format';
import { trpc, type ModelVersion } from '@/lib/trpc';
import { usePolling } from '@/lib/use-polling';
import { PollStatus } from './poll-status';
import { TradeoffTable } from './tradeoff-table';

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
        items.map((m) => <ModelVersionSection key={m.id} m={m} />)
      )}
    </>
  );
}

function ModelVersionSection({ m }: { m: ModelVersion }) {
  return (
    <section className="model-version" data-testid="model-row">
      <header className="model-header">
        <h2>
          {m.name} <span className="muted">{m.version}</span>
        </h2>
        <span className="muted">registered {formatDateTime(m.createdAt)}</span>
        <span>Used by: {m.scenarios.length === 0 ? <span className="muted">no scenario</span> : m.scenarios.map(humanize).join(', ')}</span>
      </header>
      <p className="model-inputs">
        <span className="muted">Inputs</span> <code>{inputsSummary(m.inputs)}</code>
      </p>
      <TradeoffTable versionId={m.id} variants={m.variants} />
    </section>
  );
}
