/**
 * Upgrades a model of default-domain opset 7–12 to opset 13, the lowest the transforms accept
 * (DequantizeLinear's `axis` needs 13), in TypeScript. Like ONNX's version converter it walks
 * the changelog from the model's opset up, rewriting each node whose op changed on the way
 * (If/Loop/Scan bodies included); unlike it, the result is then checked in onnxruntime against
 * the original (see `verifyUpgrade`), so a rewrite that would change outputs never ships.
 */
import { defaultOpset } from '../model/model-checks.js';
import { NameScope, cloneModel } from '../model/graph-tools.js';
import type { OnnxGraph, OnnxModel, OnnxNode } from '@edge-fleet/onnx-codec';
import { OP_ADAPTERS, type AdaptContext, type OpAdapter } from './op-adapters.js';

/** The opset the upgrader writes. */
export const UPGRADE_TARGET_OPSET = 13;
/** The oldest opset it reads: below 7, broadcasting and `consumed_inputs` differ too much to be worth it. */
export const UPGRADE_MIN_OPSET = 7;
/** ONNX IR version 7 is the first that may import opset 13. */
const MIN_IR_FOR_TARGET = 7;

/** An upgraded model and what was rewritten, or why the model cannot be upgraded. */
export type UpgradeResult =
  { model: OnnxModel; fromOpset: number; toOpset: number; rewritten: Record<string, number> } | { notApplicable: string };

const ADAPTERS = [...OP_ADAPTERS].sort((a, b) => a.since - b.since);

function isDefaultDomain(node: OnnxNode): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

/** Declared ranks of a graph's values (inputs, outputs, value_info, initializers). */
function rankLookup(graph: OnnxGraph): (value: string) => number | undefined {
  const ranks = new Map<string, number>();
  for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) {
    const shape = v.type?.tensor?.shape;
    if (shape) ranks.set(v.name, shape.length);
  }
  for (const t of graph.initializers) ranks.set(t.name, t.dims.length);
  return (value) => ranks.get(value);
}

interface Pending {
  node: OnnxNode;
  /** The opset this node's form conforms to. */
  at: number;
}

class Upgrader {
  readonly rewritten: Record<string, number> = {};

  constructor(
    private readonly from: number,
    private readonly names: NameScope,
  ) {}

  /** Rewrites `graph` in place; returns the reason when a node cannot be upgraded. */
  graph(graph: OnnxGraph): string | undefined {
    const ctx: AdaptContext = { graph, names: this.names, rankOf: rankLookup(graph) };
    const out: OnnxNode[] = [];
    for (const node of graph.nodes) {
      for (const a of node.attributes) {
        const bodies = a.type === 'GRAPH' ? [a.value] : a.type === 'GRAPHS' ? a.value : [];
        for (const body of bodies) {
          const why = this.graph(body);
          if (why !== undefined) return why;
        }
      }
      if (!isDefaultDomain(node)) {
        out.push(node);
        continue;
      }
      const done = this.node(node, ctx);
      if ('reason' in done) return done.reason;
      out.push(...done);
    }
    graph.nodes = out;
    return undefined;
  }

  private node(node: OnnxNode, ctx: AdaptContext): OnnxNode[] | { reason: string } {
    let pending: Pending[] = [{ node, at: this.from }];
    for (const adapter of ADAPTERS) {
      if (adapter.since > UPGRADE_TARGET_OPSET) break;
      const next: Pending[] = [];
      for (const p of pending) {
        if (p.node.opType !== adapter.op || adapter.since <= p.at) {
          next.push(p);
          continue;
        }
        const adapted = adapter.adapt(p.node, ctx);
        if ('reason' in adapted) return { reason: `${adapted.reason} (changed in opset ${adapter.since})` };
        this.count(adapter);
        next.push(...adapted.map((n) => ({ node: n, at: adapter.yields ?? adapter.since })));
      }
      pending = next;
    }
    return pending.map((p) => p.node);
  }

  private count(adapter: OpAdapter): void {
    const key = `${adapter.op}→${adapter.since}`;
    this.rewritten[key] = (this.rewritten[key] ?? 0) + 1;
  }
}

/**
 * A copy of `model` at opset 13 when its default-domain opset is 7–12; `notApplicable` names the
 * node and the change the upgrader does not handle. Models already at 13 or above are returned
 * as they are (the caller checks the upper bound).
 */
export function upgradeOpset(model: OnnxModel): UpgradeResult {
  const from = defaultOpset(model);
  if (from >= UPGRADE_TARGET_OPSET) return { model, fromOpset: from, toOpset: from, rewritten: {} };
  if (from < UPGRADE_MIN_OPSET) {
    return {
      notApplicable: `default-domain opset ${from === 0 ? '(none)' : from} is below ${UPGRADE_MIN_OPSET}, the oldest the upgrader reads`,
    };
  }
  const copy = cloneModel(model);
  const upgrader = new Upgrader(from, new NameScope(copy.graph));
  const why = upgrader.graph(copy.graph);
  if (why !== undefined) return { notApplicable: `the opset ${from} → ${UPGRADE_TARGET_OPSET} upgrade cannot convert ${why}` };
  copy.opsets = copy.opsets.map((o) =>
    o.domain === '' || o.domain === 'ai.onnx' ? { domain: o.domain, version: UPGRADE_TARGET_OPSET } : o,
  );
  copy.irVersion = Math.max(copy.irVersion, MIN_IR_FOR_TARGET);
  return { model: copy, fromOpset: from, toOpset: UPGRADE_TARGET_OPSET, rewritten: upgrader.rewritten };
}
