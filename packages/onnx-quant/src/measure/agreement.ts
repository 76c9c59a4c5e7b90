/** Output agreement between a variant and the FP32 model over the same inputs. */

/** One output of one run, flattened, with its shape. */
export interface OutputValue {
  dims: readonly number[];
  data: Float64Array;
}

/** One run's outputs by name. */
export type RunOutputs = Record<string, OutputValue>;

/** How closely a variant's outputs follow FP32's. */
export interface Agreement {
  /** Largest |variant − fp32| over every output element of every sample. */
  maxAbsError: number;
  /** Lowest cosine similarity among the outputs (each output's samples concatenated). */
  cosine: number;
  /** Share of rows whose argmax matches, over outputs that look like class scores; absent when none does. */
  top1?: number;
}

/** Class scores: a 2-D output `[batch, classes]` with more than one class. */
export function looksLikeClassScores(dims: readonly number[]): boolean {
  return dims.length === 2 && (dims[1] ?? 0) > 1;
}

function argmax(data: Float64Array, start: number, len: number): number {
  let best = start;
  for (let i = start + 1; i < start + len; i += 1) if ((data[i] ?? -Infinity) > (data[best] ?? -Infinity)) best = i;
  return best - start;
}

/** Cosine similarity; two all-zero vectors count as identical. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

/** Compares per-sample outputs of FP32 (`reference`) and a variant (`candidate`). */
export function compareOutputs(reference: readonly RunOutputs[], candidate: readonly RunOutputs[]): Agreement {
  const names = Object.keys(reference[0] ?? {});
  let maxAbsError = 0;
  let cosine = 1;
  let rows = 0;
  let matches = 0;
  for (const name of names) {
    const ref: number[] = [];
    const cand: number[] = [];
    reference.forEach((r, s) => {
      const a = r[name];
      const b = candidate[s]?.[name];
      if (!a || !b || a.data.length !== b.data.length) throw new Error(`output ${name} differs in shape in sample ${s}`);
      for (let i = 0; i < a.data.length; i += 1) {
        maxAbsError = Math.max(maxAbsError, Math.abs((a.data[i] ?? 0) - (b.data[i] ?? 0)));
        ref.push(a.data[i] ?? 0);
        cand.push(b.data[i] ?? 0);
      }
      if (!looksLikeClassScores(a.dims)) return;
      const [batch = 0, classes = 0] = a.dims;
      for (let row = 0; row < batch; row += 1) {
        rows += 1;
        if (argmax(a.data, row * classes, classes) === argmax(b.data, row * classes, classes)) matches += 1;
      }
    });
    cosine = Math.min(cosine, cosineSimilarity(ref, cand));
  }
  return rows > 0 ? { maxAbsError, cosine, top1: matches / rows } : { maxAbsError, cosine };
}
