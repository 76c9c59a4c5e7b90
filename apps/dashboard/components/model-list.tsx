'use client';

import { useQuery } from '@tanstack/react-query';
import { formatDateTime, humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { useTRPC, type ModelVersion } from '@/lib/trpc';
import { QueryStatus, RefreshError } from './query-status';
import { TradeoffTable } from './tradeoff-table';

/** "input_ids int64[1×128], mask bool[1×128]" */
function inputsSummary(inputs: ModelVersion['inputs']): string {
  return inputs.map((i) => `${i.name} ${i.dtype}[${i.shape.join('×')}]`).join(', ');
}

export function ModelList() {
  const trpc = useTRPC();
  const models = useQuery(trpc.models.list.queryOptions(undefined, { refetchInterval: POLL_INTERVAL_MS }));
  if (models.data === undefined) return <QueryStatus error={models.error} what="model versions" />;
  const items = models.data.items;
  return (
    <>
      <h1>Models</h1>
      <RefreshError error={models.error} />
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
