import type { ReactNode } from 'react';
import { humanize } from '@/lib/format';
import { baselineOf, measurementCaption, tradeoffRow } from '@/lib/tradeoff';
import type { ModelVariant } from '@/lib/trpc';

/** p50, p99, load, cosine, top-1, max abs error. */
const FIGURE_COLUMNS = 6;

/** Figure with its ratio to FP32 underneath; below 1× is smaller or faster. */
function WithRatio({ value, ratio, title }: { value: string; ratio: string; title?: string }) {
  return (
    <>
      {value}
      <span className="ratio" title={title}>
        {ratio === 'baseline' || ratio === '—' ? ratio : `${ratio} FP32`}
      </span>
    </>
  );
}

/**
 * What each precision of one model version costs and gains against FP32, from the variant builder's own
 * measurements. A variant without figures says why; nothing is filled in.
 */
export function TradeoffTable({ versionId, variants }: { versionId: string; variants: ModelVariant[] }) {
  const baseline = baselineOf(variants);
  const caption = measurementCaption(variants);
  return (
    <table className="tradeoff" data-testid={`tradeoff-${versionId}`}>
      <caption data-testid={`tradeoff-caption-${versionId}`}>
        {caption ?? 'No variant has been measured yet.'} Ratios are against the FP32 variant: below 1× is smaller or faster.
      </caption>
      <thead>
        <tr>
          <th>Precision</th>
          <th>Method</th>
          <th>Status</th>
          <th className="num">Size</th>
          <th className="num">p50</th>
          <th className="num">p99</th>
          <th className="num">Load</th>
          <th className="num">Cosine</th>
          <th className="num" title="share of held-out inputs whose top class matches FP32">
            Top-1
          </th>
          <th className="num">Max abs error</th>
        </tr>
      </thead>
      <tbody>
        {variants.length === 0 && (
          <tr>
            <td colSpan={4 + FIGURE_COLUMNS} className="muted">
              No variants yet.
            </td>
          </tr>
        )}
        {variants.map((v) => {
          const row = tradeoffRow(v, baseline);
          const f = row.figures;
          let figures: ReactNode;
          if (f) {
            figures = (
              <>
                <td className="num">
                  <WithRatio value={f.p50} ratio={f.p50Ratio} title={f.ratioNote ?? undefined} />
                </td>
                <td className="num">
                  <WithRatio value={f.p99} ratio={f.p99Ratio} title={f.ratioNote ?? undefined} />
                </td>
                <td className="num">{f.load}</td>
                <td className="num">{f.cosine}</td>
                <td className="num">{f.top1}</td>
                <td className="num">{f.maxAbsError}</td>
              </>
            );
          } else {
            figures = (
              <td colSpan={FIGURE_COLUMNS} className="muted no-figures">
                {row.note}
              </td>
            );
          }
          return (
            <tr key={v.id} data-testid={`variant-${v.id}`} className={`variant-${v.status}`}>
              <th scope="row">{v.precision}</th>
              <td>
                <code>{v.method}</code>
              </td>
              <td className="status-cell">
                <span className={`badge status-${v.status}`}>{humanize(v.status)}</span>
                {v.reason && (
                  <p className="reason" data-testid="variant-reason">
                    {v.reason}
                  </p>
                )}
              </td>
              <td className="num" title={v.sha256 ? `sha256 ${v.sha256}` : undefined}>
                <WithRatio value={row.size} ratio={row.sizeRatio} />
              </td>
              {figures}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
