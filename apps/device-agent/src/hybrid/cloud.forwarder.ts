import { Agent, request } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import {
  type CloudNodeRef,
  ForwardingGrantPayloadSchema,
  forwardingToken,
  type HybridPlacement,
  INFERENCE_HEADER_CONTENT_LENGTH,
  OipInferResponseSchema,
} from '@edge-fleet/shared';
import type { Clock } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';
import { assertEncrypted, pinnedTlsOptions } from '../core/tls-trust.js';
import type { OipReply } from '../serve/oip.handler.js';

/** One forwarding attempt, for the telemetry window: answered or not, and its round trip. */
export interface RemoteAttempt {
  ok: boolean;
  ms: number | null;
  /** The request body sent (0 when the node was never reached) and the answer body received. */
  bytesSent: number;
  bytesReceived: number;
}

export interface BackoffSettings {
  /** Wait after a node's first failure; doubled per further failure. */
  baseMs: number;
  maxMs: number;
}

/** 0.5 s, doubling to 30 s: a dead node costs a hybrid device at most a handful of connection attempts a minute. */
export const DEFAULT_FORWARD_BACKOFF: BackoffSettings = { baseMs: 500, maxMs: 30_000 };

export interface CloudForwarderOptions {
  clock: Clock;
  logger: Logger;
  onAttempt: (a: RemoteAttempt) => void;
  backoff?: BackoffSettings;
  /** Jitter source in [0, 1) (tests pass a fixed one). */
  random?: () => number;
  /**
   * The CA pinned at enrollment (null: none): https nodes are checked against it instead of the
   * system's roots, and a plain http node is refused (not contacted) unless it is on loopback.
   */
  caPem?: string | null;
}

/** A node's standing: attempts made, failures in a row, and until when it is skipped. */
export interface NodeHealth {
  url: string;
  attempts: number;
  failuresInRow: number;
  skippedUntil: number;
}

interface Placement {
  nodes: CloudNodeRef[];
  token: string;
  grantExpiresAt: number;
  forwardOnLatency: boolean;
  latencyTargetMs: number;
}

interface NodeAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A hybrid device's way to its scenario's cloud nodes (README "Hybrid placement"): the nodes and
 * the forwarding grant come with the signed desired state; a request goes to the first node not
 * being skipped, with the grant as its bearer token. A node that fails (no connection, timeout,
 * 5xx, 429, grant refused) is skipped for an exponentially growing, jittered while, so a dead node
 * is never retried in a tight loop; the next node is tried meanwhile. The answer is the node's,
 * marked `executed_on: remote` with the node's id.
 */
export class CloudForwarder {
  private placement: Placement | null = null;
  private readonly health = new Map<string, NodeHealth>();
  private readonly httpAgent = new Agent({ keepAlive: true, maxSockets: 32 });
  private readonly tlsAgent: TlsAgent;
  private readonly backoff: BackoffSettings;
  private readonly random: () => number;
  private readonly caPem: string | null;
  /** Node URLs refused for plain text, each logged once while it stays in the placement. */
  private readonly refused = new Set<string>();

  constructor(private readonly o: CloudForwarderOptions) {
    this.backoff = o.backoff ?? DEFAULT_FORWARD_BACKOFF;
    this.random = o.random ?? Math.random;
    this.caPem = o.caPem ?? null;
    this.tlsAgent = new TlsAgent({ keepAlive: true, maxSockets: 32, ...(this.caPem === null ? {} : pinnedTlsOptions(this.caPem)) });
  }

  /** From each verified desired state: the nodes and grant replace the previous ones; null = not a hybrid device (any more). */
  setPlacement(p: HybridPlacement | null): void {
    if (p === null) {
      this.placement = null;
      return;
    }
    // the grant came inside a verified desired state: its payload is read only for its expiry
    const payload = ForwardingGrantPayloadSchema.safeParse(safeJson(Buffer.from(p.grant.payload, 'base64').toString('utf8')));
    this.placement = {
      nodes: this.usable(p.nodes),
      token: forwardingToken(p.grant),
      grantExpiresAt: payload.success ? Date.parse(payload.data.expiresAt) : 0,
      forwardOnLatency: p.forwardOnLatency,
      latencyTargetMs: p.latencyTargetMs,
    };
    const urls = new Set(p.nodes.map((n) => n.url));
    for (const url of this.health.keys()) if (!urls.has(url)) this.health.delete(url);
  }

  /** The nodes that may be contacted: with a pinned CA, plain http ones (loopback aside) are dropped, each logged once. */
  private usable(nodes: readonly CloudNodeRef[]): CloudNodeRef[] {
    const kept: CloudNodeRef[] = [];
    const refusedNow = new Set<string>();
    for (const n of nodes) {
      try {
        assertEncrypted(n.url, this.caPem, `cloud node ${n.deviceId} URL`, { loopback: true });
        kept.push(n);
      } catch (err) {
        refusedNow.add(n.url);
        if (!this.refused.has(n.url)) this.o.logger.error(errorMessage(err), { node: n.deviceId, url: n.url });
      }
    }
    this.refused.clear();
    for (const url of refusedNow) this.refused.add(url);
    return kept;
  }

  /** The latency rule's target (ms) when the policy turns it on; null when it is off or nothing can be forwarded. */
  latencyRuleMs(): number | null {
    const p = this.placement;
    return p !== null && p.forwardOnLatency && this.canForward() ? p.latencyTargetMs : null;
  }

  /** A node could be tried now: placement held, grant unexpired, some node not being skipped. */
  canForward(): boolean {
    const p = this.placement;
    if (p === null || p.nodes.length === 0 || p.grantExpiresAt <= this.o.clock.now()) return false;
    const now = this.o.clock.now();
    return p.nodes.some((n) => (this.health.get(n.url)?.skippedUntil ?? 0) <= now);
  }

  /** Each node's standing (tests, diagnostics). */
  nodes(): NodeHealth[] {
    return [...this.health.values()].map((h) => ({ ...h }));
  }

  /**
   * Sends an inference request to the first node that answers; null when none did (all skipped or
   * failing), and the caller answers locally or with its own error.
   */
  async forward(
    path: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: Buffer,
    deadlineMs: number,
  ): Promise<OipReply | null> {
    const p = this.placement;
    if (p === null || p.grantExpiresAt <= this.o.clock.now()) return null;
    for (const node of p.nodes) {
      const h = this.standing(node.url);
      if (h.skippedUntil > this.o.clock.now()) continue;
      h.attempts++;
      const started = performance.now();
      let answer: NodeAnswer;
      try {
        answer = await this.post(node.url, path, headers, body, p.token, deadlineMs);
      } catch (err) {
        this.failed(h, node, errorMessage(err), { bytesSent: body.length, bytesReceived: 0 });
        continue;
      }
      const ms = performance.now() - started;
      const bytes = { bytesSent: body.length, bytesReceived: answer.body.length };
      if (answer.status >= 500 || answer.status === 429 || answer.status === 401 || answer.status === 403) {
        this.failed(h, node, `HTTP ${answer.status}: ${answer.body.toString('utf8').slice(0, 200)}`, bytes);
        continue;
      }
      let reply: OipReply;
      try {
        reply = answer.status === 200 ? markRemote(answer, node) : nodeError(answer);
      } catch (err) {
        this.failed(h, node, errorMessage(err), bytes);
        continue;
      }
      h.failuresInRow = 0;
      h.skippedUntil = 0;
      this.o.onAttempt({ ok: answer.status === 200, ms, ...bytes });
      return reply;
    }
    return null;
  }

  stop(): void {
    this.httpAgent.destroy();
    this.tlsAgent.destroy();
  }

  private standing(url: string): NodeHealth {
    let h = this.health.get(url);
    if (h === undefined) {
      h = { url, attempts: 0, failuresInRow: 0, skippedUntil: 0 };
      this.health.set(url, h);
    }
    return h;
  }

  private failed(h: NodeHealth, node: CloudNodeRef, reason: string, bytes: { bytesSent: number; bytesReceived: number }): void {
    h.failuresInRow++;
    const wait = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** Math.min(h.failuresInRow - 1, 30));
    // jittered in [wait/2, wait): hybrid devices that lost the same node do not come back in step
    const skipMs = wait * (0.5 + this.random() / 2);
    h.skippedUntil = this.o.clock.now() + skipMs;
    this.o.onAttempt({ ok: false, ms: null, ...bytes });
    this.o.logger.warn('cloud node failed; skipped for a while', {
      node: node.deviceId,
      url: node.url,
      failuresInRow: h.failuresInRow,
      skipMs: Math.round(skipMs),
      reason,
    });
  }

  private post(
    base: string,
    path: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: Buffer,
    token: string,
    deadlineMs: number,
  ): Promise<NodeAnswer> {
    const url = new URL(path, base);
    const out: Record<string, string> = {
      'content-type': single(headers['content-type']) ?? 'application/json',
      'content-length': String(body.length),
      authorization: `Bearer ${token}`,
    };
    const binaryHeader = single(headers[INFERENCE_HEADER_CONTENT_LENGTH]);
    if (binaryHeader !== undefined) out[INFERENCE_HEADER_CONTENT_LENGTH] = binaryHeader;
    return new Promise((resolve, reject) => {
      // an https:// node is reached over TLS, checked against the pinned CA (the system's CAs without one)
      const tls = url.protocol === 'https:';
      const send = tls ? tlsRequest : request;
      const req = send(url, { method: 'POST', headers: out, agent: tls ? this.tlsAgent : this.httpAgent, timeout: deadlineMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h[k] = v;
          resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${deadlineMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** The node's answer with `executed_on: remote` and the node's id in its parameters (JSON or binary tensor body alike). */
function markRemote(answer: NodeAnswer, node: CloudNodeRef): OipReply {
  const declared = answer.headers[INFERENCE_HEADER_CONTENT_LENGTH];
  const headerLength = declared === undefined ? answer.body.length : Number(declared);
  if (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > answer.body.length)
    throw new Error(`cloud node ${node.deviceId} answered with a bad Inference-Header-Content-Length`);
  const parsed = OipInferResponseSchema.safeParse(safeJson(answer.body.subarray(0, headerLength).toString('utf8')));
  if (!parsed.success) throw new Error(`cloud node ${node.deviceId} answered with a body that is no inference response`);
  const response = { ...parsed.data, parameters: { ...parsed.data.parameters, executed_on: 'remote', cloud_node: node.deviceId } };
  const header = Buffer.from(JSON.stringify(response), 'utf8');
  const rest = answer.body.subarray(headerLength);
  if (declared === undefined) return { status: 200, headers: { 'content-type': 'application/json' }, body: header };
  return {
    status: 200,
    headers: { 'content-type': 'application/octet-stream', [INFERENCE_HEADER_CONTENT_LENGTH]: String(header.length) },
    body: Buffer.concat([header, rest]),
  };
}

/** A node's own refusal of the request (400, 404, 413…): passed on to the application as the node said it. */
function nodeError(answer: NodeAnswer): OipReply {
  return { status: answer.status, headers: { 'content-type': answer.headers['content-type'] ?? 'application/json' }, body: answer.body };
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
