import { describe, expect, it } from 'vitest';
import { compareOutputs, cosineSimilarity, looksLikeClassScores, type RunOutputs } from './agreement.js';

const out = (dims: number[], values: number[]): RunOutputs => ({ y: { dims, data: Float64Array.from(values) } });

describe('agreement', () => {
  it('cosine similarity of hand-computed vectors', () => {
    expect(cosineSimilarity([1, 0], [0, 1])).toBe(0);
    expect(cosineSimilarity([1, 2], [2, 4])).toBeCloseTo(1, 12);
    expect(cosineSimilarity([0, 0], [0, 0])).toBe(1);
  });

  it('top-1 per row of 2-D class scores, max abs error over all elements', () => {
    const ref = [out([2, 3], [0.1, 0.7, 0.2, 0.5, 0.3, 0.2])];
    const cand = [out([2, 3], [0.1, 0.6, 0.3, 0.3, 0.5, 0.2])];
    const a = compareOutputs(ref, cand);
    expect(a.top1).toBe(0.5);
    expect(a.maxAbsError).toBeCloseTo(0.2, 12);
  });

  it('has no top-1 for outputs that are not class scores', () => {
    expect(looksLikeClassScores([1, 1])).toBe(false);
    expect(looksLikeClassScores([1, 3, 4])).toBe(false);
    expect(compareOutputs([out([1, 1], [2])], [out([1, 1], [2])]).top1).toBeUndefined();
  });
});
