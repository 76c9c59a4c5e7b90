import {
  type OipInferResponse,
  type OipModelMetadata,
  type OipResponseOutput,
  type OipServerMetadata,
  type OipTensorMetadata,
  type Scenario,
  INFERENCE_HEADER_CONTENT_LENGTH,
} from '@edge-fleet/shared';
import type { InferenceEngine } from '../engine/inference.engine.js';
import type { ModelSignature, ServedTensor, TensorSignature } from '../engine/served-tensor.js';
import type { CloudForwarder } from '../hybrid/cloud.forwarder.js';
import { type DecodedRequest, decodeInferRequest } from './oip.request.js';
import { ResultCache } from './result.cache.js';
import type { ServingCap } from './serving-cap.js';
import { BadRequest, NotFound, ServeError } from './serve.errors.js';
import type { ActiveServing, Served, ServingSlot } from './serving.slot.js';
import { oipDatatypeOf, toBinary, toJsonData } from './tensor.codec.js';

export interface OipReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface OipHandlerOptions {
  slot: ServingSlot;
  serverName: string;
  serverVersion: string;
  /** Per-request deadline for the scenario now served. */
  deadlineMs: (scenario: Scenario) => number;
  /** Answers of repeated inputs; null = off (setCache replaces it). */
  cache?: ResultCache | null;
  /** A request answered from the cache; `savedMs`: the measured run time of the run whose answer it reused. */
  onCacheHit?: (savedMs: number) => void;
  /** A hybrid device's cloud nodes, and the deadline of a forwarded request; absent elsewhere. */
  forwarding?: { forwarder: CloudForwarder; deadlineMs: number } | null;
}

/** While the latency rule forwards, one request in this many still runs locally. */
export const LOCAL_SAMPLE_EVERY = 10;

const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/;

/** The Open Inference Protocol's REST routes over the serving slot; transport-free, so every answer is testable. */
export class OipHandler {
  /** Requests the latency rule sent away in a row: every LOCAL_SAMPLE_EVERY-th still runs here. */
  private overBudgetRun = 0;

  private cache: ResultCache | null;
  private cap: ServingCap | null = null;

  constructor(private readonly options: OipHandlerOptions) {
    this.cache = options.cache ?? null;
  }

  /** A remediation's caps on serving (null: none); see ServingCap. */
  setCap(cap: ServingCap | null): void {
    this.cap = cap;
  }

  /** The scenario policy's cache arrived or changed (null: off); in-flight requests finish with the one they took. */
  setCache(cache: ResultCache | null): void {
    this.cache = cache;
  }

  get resultCache(): ResultCache | null {
    return this.cache;
  }

  async handle(
    method: string,
    path: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: Buffer,
  ): Promise<OipReply> {
    try {
      return await this.route(method, path, headers, body);
    } catch (err) {
      if (err instanceof ServeError) return errorReply(err);
      return errorReply(new ServeError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  private async route(
    method: string,
    path: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: Buffer,
  ): Promise<OipReply> {
    const slot = this.options.slot;
    if (path === '/v2/health/live') return get(method, () => json(200, { live: true }));
    if (path === '/v2/health/ready') return get(method, () => (this.ready() ? json(200, { ready: true }) : json(400, { ready: false })));
    if (path === '/v2' || path === '/v2/') return get(method, () => json(200, this.serverMetadata()));
    const match = MODEL_PATH.exec(path);
    if (match === null) throw new NotFound(`no route for ${path}`);
    const name = decode(match[1] ?? '');
    const version = match[2] === undefined ? null : decode(match[2]);
    const action = match[3];
    if (action === '/infer') {
      if (method !== 'POST') throw new ServeError(405, `${path} takes POST, not ${method}`);
      // a hybrid device whose model is not ready (none yet, or mid-load) has a cloud node answer
      if (!this.ready()) {
        const remote = await this.forward(path, headers, body);
        if (remote !== null) return remote;
      }
      const active = this.resolve(name, version);
      const signature = signatureOf(active);
      const request = decodeInferRequest(body, headerLength(headers), signature);
      // keyed before the run: the engine takes the input buffers
      const cache = this.cache;
      const key = this.cacheKey(cache, active, request.inputs);
      const cached = key === null ? null : (cache?.get(key) ?? null);
      if (cached !== null) {
        this.options.onCacheHit?.(cached.inferenceMs);
        return inferReply(name, request, { result: { ok: true, latencyMs: 0, outputs: cached.outputs }, by: active, queueMs: 0 }, true);
      }
      // over a remediation's cap: a hybrid device has the cloud node do the work; else the refusal stands
      const capped = this.cap?.admit() ?? null;
      if (capped !== null) {
        const remote = await this.forward(path, headers, body);
        if (remote !== null) return remote;
        throw capped;
      }
      // a full queue (asked first: a refused request counts as a failed local one) or the latency rule
      if (slot.full() || this.overBudget()) {
        const remote = await this.forward(path, headers, body);
        if (remote !== null) return remote;
      }
      let served: Served;
      try {
        served = await slot.submit(request.inputs, this.options.deadlineMs(active.scenario));
      } catch (err) {
        // the model unloaded meanwhile (503): a cloud node may still answer; if none does, the local error stands
        if (!(err instanceof ServeError) || err.status !== 503) throw err;
        const remote = await this.forward(path, headers, body);
        if (remote !== null) return remote;
        throw err;
      }
      const outputs = served.result.outputs;
      // an answer from a model that replaced the one keyed is not stored under the old key
      if (key !== null && served.result.ok && outputs !== undefined && served.by.model.sha256 === active.model.sha256)
        cache?.set(key, outputs, served.result.latencyMs ?? 0);
      return inferReply(name, request, served, false);
    }
    if (action === '/ready') {
      return get(method, () => {
        const active = this.resolve(name, version);
        return json(200, { name, ready: active.engine.infer !== undefined });
      });
    }
    return get(method, () => json(200, modelMetadata(name, this.resolve(name, version))));
  }

  /** Null when the cache is off or the model has state inputs (its answer depends on state the key cannot see). */
  private cacheKey(cache: ResultCache | null, active: ActiveServing, inputs: Record<string, ServedTensor>): string | null {
    if (cache === null || active.model.inputs.some((i) => i.stateFrom !== undefined)) return null;
    return ResultCache.key(active.model.sha256, inputs);
  }

  /** The cloud node's answer, or null: not a hybrid device, no node to try, or none answered. */
  private async forward(
    path: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: Buffer,
  ): Promise<OipReply | null> {
    const f = this.options.forwarding;
    if (f == null || !f.forwarder.canForward()) return null;
    return f.forwarder.forward(path, headers, body, f.deadlineMs);
  }

  /** The policy's latency rule (off by default): the requests ahead and the recent runs' median say this one would miss the tier's target. */
  private overBudget(): boolean {
    const limit = this.options.forwarding?.forwarder.latencyRuleMs() ?? null;
    if (limit === null || this.options.slot.predictedMs() <= limit) {
      this.overBudgetRun = 0;
      return false;
    }
    // one in LOCAL_SAMPLE_EVERY stays: the local model keeps being measured, so forwarding stops once it is fast again
    return ++this.overBudgetRun % LOCAL_SAMPLE_EVERY !== 0;
  }

  private ready(): boolean {
    return this.options.slot.current?.engine.infer !== undefined;
  }

  private serverMetadata(): OipServerMetadata {
    return { name: this.options.serverName, version: this.options.serverVersion, extensions: ['binary_tensor_data'] };
  }

  /** The active model answers to its scenario's name and to its registered model name; version = the model version. */
  private resolve(name: string, version: string | null): ActiveServing {
    const active = this.options.slot.current;
    if (active === null) throw new ServeError(503, 'no model is loaded yet');
    const { model, scenario } = active;
    if (name !== scenario && name !== model.name)
      throw new NotFound(`unknown model "${name}"; this device serves "${model.name}" (also addressed as "${scenario}")`);
    if (version !== null && version !== model.version)
      throw new NotFound(`model "${name}" has no version "${version}"; it serves version "${model.version}"`);
    return active;
  }
}

function get(method: string, answer: () => OipReply): OipReply {
  if (method !== 'GET') throw new ServeError(405, `this route takes GET, not ${method}`);
  return answer();
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest(`malformed path segment "${segment}"`);
  }
}

function headerLength(headers: Readonly<Record<string, string | string[] | undefined>>): number | null {
  const raw = headers[INFERENCE_HEADER_CONTENT_LENGTH];
  if (raw === undefined) return null;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || !/^\d{1,12}$/.test(value))
    throw new BadRequest(`Inference-Header-Content-Length "${String(value)}" is not a byte count`);
  return Number(value);
}

function signatureOf(active: ActiveServing): ModelSignature {
  const signature = active.engine.signature?.() ?? null;
  if (signature === null) throw new ServeError(503, 'the active model does not declare its inputs; it cannot serve applications');
  return signature;
}

function tensorMetadata(s: TensorSignature): OipTensorMetadata | null {
  const datatype = oipDatatypeOf(s.type);
  return datatype === null ? null : { name: s.name, datatype, shape: s.shape };
}

function modelMetadata(name: string, active: ActiveServing): OipModelMetadata {
  const signature = signatureOf(active);
  const { model, scenario } = active;
  return {
    name,
    versions: [model.version],
    platform: 'onnx_onnxv1',
    inputs: signature.inputs.map(tensorMetadata).filter((t) => t !== null),
    outputs: signature.outputs.map(tensorMetadata).filter((t) => t !== null),
    // which build of the model answers: the fleet may serve a quantized variant of the registered version;
    // and where it runs (the agent's main thread or its inference worker) with the measured figures that decided it
    parameters: {
      model_name: model.name,
      scenario,
      variant_id: model.variantId,
      precision: model.precision,
      sha256: model.sha256,
      ...placementParameters(active.engine),
    },
  };
}

/** Extra parameters (the protocol allows any): nothing when the engine does not say where it runs. */
function placementParameters(engine: InferenceEngine): { placement?: string; placement_basis?: string } {
  const placement = engine.placement ?? null;
  const basis = engine.placementBasis?.() ?? null;
  return placement === null ? {} : { placement, ...(basis === null ? {} : { placement_basis: basis }) };
}

function inferReply(name: string, request: DecodedRequest, served: Served, cacheHit: boolean): OipReply {
  const { result, by, queueMs } = served;
  if (!result.ok || result.outputs === undefined) throw new ServeError(500, `inference failed: ${result.error ?? 'no outputs'}`);
  const produced = result.outputs;
  const wanted = request.outputs ?? Object.keys(produced).map((n) => ({ name: n, binary: request.binaryByDefault }));
  const outputs: OipResponseOutput[] = [];
  const chunks: Uint8Array[] = [];
  for (const { name: outName, binary } of wanted) {
    const tensor: ServedTensor | undefined = produced[outName];
    const datatype = tensor === undefined ? null : oipDatatypeOf(tensor.type);
    if (tensor === undefined || datatype === null) throw new ServeError(500, `the model produced no usable output "${outName}"`);
    if (binary) {
      const bytes = toBinary(tensor);
      chunks.push(bytes);
      outputs.push({ name: outName, shape: tensor.dims, datatype, parameters: { binary_data_size: bytes.byteLength } });
    } else outputs.push({ name: outName, shape: tensor.dims, datatype, data: toJsonData(tensor) });
  }
  const response: OipInferResponse = {
    model_name: name,
    model_version: by.model.version,
    ...(request.id === undefined ? {} : { id: request.id }),
    // where and how it ran: an application (and a test) can tell which session answered
    parameters: {
      executed_on: 'local',
      sha256: by.model.sha256,
      precision: by.model.precision,
      queue_ms: round(queueMs),
      inference_ms: round(result.latencyMs ?? 0),
      cache_hit: cacheHit,
    },
    outputs,
  };
  const header = Buffer.from(JSON.stringify(response), 'utf8');
  if (chunks.length === 0) return { status: 200, headers: { 'content-type': 'application/json' }, body: header };
  return {
    status: 200,
    headers: { 'content-type': 'application/octet-stream', [INFERENCE_HEADER_CONTENT_LENGTH]: String(header.length) },
    body: Buffer.concat([header, ...chunks]),
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function json(status: number, value: unknown): OipReply {
  return { status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(value), 'utf8') };
}

export function errorReply(err: ServeError): OipReply {
  const reply = json(err.status, { error: err.message });
  Object.assign(reply.headers, err.headers);
  return reply;
}
