/**
 * Items handed in during one turn of the event loop are handled together, by one call of `run`,
 * each caller getting its own item's outcome. The broker hands over a socket read of device messages
 * at once: handled one by one, each costs its own round trips to Postgres and a connection of a pool
 * of ten (issue 15: 10,000 devices acknowledging an assignment within seconds queued 30,000
 * statements). A batch that reaches `max` items is run at once; the next items start another.
 */
export class TurnBatch<I, O> {
  private pending: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];

  constructor(
    /** One outcome per item, in the items' order; a throw fails every item of the batch. */
    private readonly run: (items: readonly I[]) => Promise<readonly PromiseSettledResult<O>[]>,
    private readonly max: number,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.max) this.runPending();
      else if (this.pending.length === 1) setImmediate(() => this.runPending());
    });
  }

  private runPending(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const settle = (outcomes: readonly PromiseSettledResult<O>[]) =>
      batch.forEach((b, i) => {
        const o = outcomes[i];
        if (!o) b.reject(new Error('no outcome for a batched item'));
        else if (o.status === 'fulfilled') b.resolve(o.value);
        else b.reject(o.reason);
      });
    this.run(batch.map((b) => b.item)).then(settle, (e: unknown) => batch.forEach((b) => b.reject(e)));
  }
}

/** Splits items into rounds in which each key occurs once, keeping each key's items in order: round k holds each key's k-th item. */
export function roundsByKey<I>(items: readonly I[], key: (item: I) => string): { item: I; index: number }[][] {
  const seen = new Map<string, number>();
  const rounds: { item: I; index: number }[][] = [];
  items.forEach((item, index) => {
    const k = key(item);
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    (rounds[n] ??= []).push({ item, index });
  });
  return rounds;
}
