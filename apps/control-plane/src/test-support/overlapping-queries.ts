import pg from 'pg';

/** What pg keeps of a client's queries (not in its types): those queued behind the running one. */
interface ClientQueue {
  _queryQueue: { text?: string }[];
}

type Query = (this: ClientQueue, ...args: unknown[]) => unknown;

/**
 * Records each query handed to a pg client while another one already waits behind its running one:
 * pg 8 queues it with a deprecation warning printed once per process ("client.query() when the
 * client is already executing a query"), pg 9 refuses it. A transaction's queries all go through one client,
 * so this is how concurrent statements inside a transaction show. Watches every client of this
 * process (the control plane's pools included) until `stop()`, which returns what it saw.
 */
export function watchOverlappingQueries(): { stop: () => string[] } {
  const proto = pg.Client.prototype as unknown as { query: Query };
  const original = proto.query;
  const seen: string[] = [];
  proto.query = function (this: ClientQueue, ...args: unknown[]) {
    // pg's own test for its warning (lib/client.js): a query already waiting behind the running one
    if (this._queryQueue.length > 0) {
      const q = args[0];
      const text = typeof q === 'string' ? q : typeof q === 'object' && q !== null && 'text' in q ? String(q.text) : '?';
      seen.push(`${text.slice(0, 200)} (queued behind: ${this._queryQueue.map((x) => (x.text ?? '?').slice(0, 100)).join('; ')})`);
    }
    return original.apply(this, args);
  };
  return {
    stop: () => {
      proto.query = original;
      return seen;
    },
  };
}
