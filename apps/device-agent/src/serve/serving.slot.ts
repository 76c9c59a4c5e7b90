import { performance } from 'node:perf_hooks';
import type { DesiredModel, Scenario } from '@edge-fleet/shared';
import type { InferenceEngine } from '../engine/inference.engine.js';
import type { InferResult, ServedTensor } from '../engine/served-tensor.js';
import { ServeError } from './serve.errors.js';

/** What the API says about the model that answers (from its desired state). */
export type ServedModelInfo = Pick<DesiredModel, 'name' | 'version' | 'variantId' | 'precision' | 'sha256' | 'inputs'>;

/** What serves requests now: swapped as a whole on activation and rollback. */
export interface ActiveServing {
  engine: InferenceEngine;
  model: ServedModelInfo;
  scenario: Scenario;
}

/** One finished request, for the telemetry of real traffic. */
export interface ServedRequest {
  ok: boolean;
  queueMs: number;
  inferenceMs: number | null;
}

export interface Served {
  result: InferResult;
  by: ActiveServing;
  queueMs: number;
}

/** Runs whose wall time the hybrid latency rule looks at. */
const RECENT_RUNS = 16;

export interface SlotLimits {
  /** Requests waiting for the session beyond those running; one more is answered 429. */
  queueDepth: number;
  /** Runs handed to the engine at once: 2 lets the next request cross to the worker while one runs. */
  maxInFlight: number;
}

interface Ticket {
  inputs: Record<string, ServedTensor>;
  acceptedAt: number;
  deadlineMs: number;
  settled: boolean;
  timer: NodeJS.Timeout | null;
  resolve: (served: Served) => void;
  reject: (err: ServeError) => void;
}

/**
 * The active model's request queue. Bounded, so memory stays bounded under any load; each request
 * is dispatched to whatever session is active at that moment, so an activation or rollback sends new
 * requests to the new session while those already running finish on the old one (the engine's
 * dispose waits for them).
 */
export class ServingSlot {
  private active: ActiveServing | null = null;
  private readonly waiting: Ticket[] = [];
  private inFlight = 0;
  /** Mean inference time, for the Retry-After estimate. */
  private meanInferenceMs = 1;
  /**
   * Wall times of the latest dispatched runs (crossing to the worker included), for the hybrid
   * latency rule: their median, so one slow warm-up run or scheduling hiccup does not send the
   * following requests away.
   */
  private readonly recentServiceMs: number[] = [];
  private recentAt = 0;

  constructor(
    private readonly limits: SlotLimits,
    private readonly onDone: (r: ServedRequest) => void = () => undefined,
  ) {}

  setActive(active: ActiveServing | null): void {
    this.active = active;
    if (active === null)
      for (const t of this.waiting.splice(0)) this.settle(t, new ServeError(503, 'no model is loaded: the model was unloaded'));
  }

  get current(): ActiveServing | null {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * What a request arriving now would take, by the median wall time of the recent runs: the requests ahead of it
   * (waiting and running) spread over the runs at once, then its own run.
   */
  predictedMs(): number {
    const sorted = [...this.recentServiceMs].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1] ?? 0;
    return median * (1 + (this.waiting.length + this.inFlight) / this.limits.maxInFlight);
  }

  /** A request submitted now would be refused 429 (and counted as a failed request). */
  full(): boolean {
    return this.waiting.length >= this.limits.queueDepth && this.inFlight >= this.limits.maxInFlight;
  }

  submit(inputs: Record<string, ServedTensor>, deadlineMs: number): Promise<Served> {
    if (this.active === null) return Promise.reject(new ServeError(503, 'no model is loaded yet'));
    if (this.full()) {
      const seconds = Math.max(1, Math.ceil((this.waiting.length * this.meanInferenceMs) / this.limits.maxInFlight / 1000));
      this.onDone({ ok: false, queueMs: 0, inferenceMs: null });
      return Promise.reject(
        new ServeError(429, `the queue is full (${this.limits.queueDepth} requests waiting); retry after ${seconds} s`, {
          'retry-after': String(seconds),
        }),
      );
    }
    return new Promise<Served>((resolve, reject) => {
      const ticket: Ticket = { inputs, acceptedAt: performance.now(), deadlineMs, settled: false, timer: null, resolve, reject };
      ticket.timer = setTimeout(() => this.expire(ticket), deadlineMs);
      this.waiting.push(ticket);
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.limits.maxInFlight) {
      const ticket = this.waiting.shift();
      if (ticket === undefined) return;
      void this.dispatch(ticket);
    }
  }

  private async dispatch(ticket: Ticket): Promise<void> {
    this.inFlight++;
    const queueMs = performance.now() - ticket.acceptedAt;
    try {
      // the session active now, not the one active when the request arrived: after a swap, queued
      // requests go to the new session while the old one finishes what it already runs
      const by = this.active;
      if (by === null) throw new ServeError(503, 'no model is loaded');
      const started = performance.now();
      const result = await this.run(by, ticket.inputs);
      this.recentServiceMs[this.recentAt] = performance.now() - started;
      this.recentAt = (this.recentAt + 1) % RECENT_RUNS;
      if (result.latencyMs !== null) this.meanInferenceMs = this.meanInferenceMs * 0.9 + result.latencyMs * 0.1;
      this.onDone({ ok: result.ok, queueMs, inferenceMs: result.latencyMs });
      if (ticket.settled) return;
      this.settle(ticket, { result, by, queueMs });
    } catch (err) {
      this.onDone({ ok: false, queueMs, inferenceMs: null });
      this.settle(ticket, err instanceof ServeError ? err : new ServeError(500, String(err)));
    } finally {
      this.inFlight--;
      this.pump();
    }
  }

  private run(by: ActiveServing, inputs: Record<string, ServedTensor>): Promise<InferResult> {
    const infer = by.engine.infer?.bind(by.engine);
    if (infer === undefined) throw new ServeError(503, 'the active engine cannot serve applications');
    return infer(inputs);
  }

  private expire(ticket: Ticket): void {
    const at = this.waiting.indexOf(ticket);
    const waited = Math.round(performance.now() - ticket.acceptedAt);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      this.onDone({ ok: false, queueMs: waited, inferenceMs: null });
      this.settle(ticket, new ServeError(504, `deadline of ${ticket.deadlineMs} ms exceeded after ${waited} ms waiting in the queue`));
      return;
    }
    this.settle(
      ticket,
      new ServeError(504, `deadline of ${ticket.deadlineMs} ms exceeded while the model ran; the result of this run is discarded`),
    );
  }

  private settle(ticket: Ticket, outcome: Served | ServeError): void {
    if (ticket.settled) return;
    ticket.settled = true;
    if (ticket.timer !== null) clearTimeout(ticket.timer);
    if (outcome instanceof ServeError) ticket.reject(outcome);
    else ticket.resolve(outcome);
  }
}
