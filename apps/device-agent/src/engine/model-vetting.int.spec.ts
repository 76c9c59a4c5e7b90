import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildExternalDataModel, writeModel } from '../test-support/models.js';
import { type ChildVettingOptions, VETTING_DEFAULTS, type VettingOutcome, vetModelInChild } from './model-vetting.js';

/** Real onnxruntime-node in a real child process; only the "hostile model" crashes are simulated. */
async function vet(
  name: 'mlp' | 'conv' | 'slow',
  options: ChildVettingOptions = {},
  adjust: (m: Awaited<ReturnType<typeof writeModel>>) => Partial<{ path: string; inputs: typeof m.inputs }> = () => ({}),
): Promise<VettingOutcome> {
  const model = await writeModel(name);
  return vetModelInChild({ path: model.path, inputs: model.inputs, intraOpThreads: 1, seed: 42, ...adjust(model) }, options);
}

function failure(outcome: VettingOutcome): { code: string; message: string } {
  if (outcome.ok) throw new Error('expected the vetting to fail');
  return { code: outcome.code, message: outcome.message };
}

describe('vetting a candidate in a child process (real onnxruntime)', () => {
  it.each(['mlp', 'conv'] as const)('passes the healthy %s model with load and run latencies', async (name) => {
    let started = 0;
    const model = await writeModel(name);
    const outcome = await vetModelInChild(
      { path: model.path, inputs: model.inputs, intraOpThreads: 1, seed: 42 },
      {},
      { onStarted: () => started++ },
    );
    if (!outcome.ok) throw new Error(outcome.message);
    expect(started).toBe(1);
    expect(outcome.report.loadMs).toBeGreaterThan(0);
    expect(outcome.report.latenciesMs).toHaveLength(3);
    for (const l of outcome.report.latenciesMs) expect(l).toBeGreaterThan(0);
    expect(outcome.report.totalMs).toBeGreaterThan(outcome.report.loadMs);
  });

  it.each([
    ['abort', 'SIGABRT'],
    ['segv', 'SIGSEGV'],
  ] as const)('a runtime crash (%s) kills only the child: load_failed naming %s', async (simulate, signal) => {
    const model = await writeModel('mlp');
    const request = { path: model.path, inputs: model.inputs, intraOpThreads: 1, seed: 42 };
    const children: number[] = [];
    const { code, message } = failure(await vetModelInChild(request, { simulate }, { onStarted: (pid) => children.push(pid) }));
    expect(code).toBe('load_failed');
    expect(message).toContain(`the model crashed the runtime in the vetting process (signal ${signal}) right after loading the model`);
    // the crash happened in a process of its own, and that process is gone (signal 0 only checks it exists)
    expect(children).toHaveLength(1);
    const [child] = children;
    expect(child).not.toBe(process.pid);
    expect(() => process.kill(child ?? -1, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    // this process goes on, and vets the next candidate with the runtime it had
    const next = await vetModelInChild(request, {}, { onStarted: (pid) => children.push(pid) });
    expect(next.ok, next.ok ? '' : next.message).toBe(true);
    expect(children).toHaveLength(2);
  });

  it('row 10: a model exhausting the child heap (--max-old-space-size) is load_failed, the parent unharmed', async () => {
    const before = process.memoryUsage().rss;
    const { code, message } = failure(await vet('mlp', { simulate: 'oom', maxOldSpaceMb: 48 }));
    expect(code).toBe('load_failed');
    expect(message).toMatch(
      /the model crashed the runtime in the vetting process \(signal SIGABRT\) right after loading the model|exited with code/,
    );
    expect(message).toMatch(/heap limit|out of memory/i);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('row 10: a child that blocks and never answers is killed at the wall-clock timeout', async () => {
    // 6 s: on a loaded machine the child once took over 1.5 s to load the model, and the timeout then
    // struck before the hang it is meant to catch
    const t0 = Date.now();
    const { code, message } = failure(await vet('mlp', { simulate: 'hang', timeoutMs: 6_000 }));
    expect(code).toBe('load_failed');
    expect(message).toBe('vetting timed out after 6 s right after loading the model; the vetting process was killed');
    // killed at this timeout, not at the 60 s default (a lower bound on the wait is the one that cannot flake)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(6_000);
    expect(Date.now() - t0).toBeLessThan(VETTING_DEFAULTS.timeoutMs);
  });

  it('a non-zero exit is load_failed with the code', async () => {
    const { code, message } = failure(await vet('mlp', { simulate: 'exit' }));
    expect(code).toBe('load_failed');
    expect(message).toBe('the vetting process exited with code 3 right after loading the model');
  });

  it('NaN outputs are smoke_failed', async () => {
    const outcome = await vet('conv', {}, (m) => ({ inputs: m.inputs.map((i) => ({ ...i, min: 3e38, max: 3.4e38 })) }));
    const { code, message } = failure(outcome);
    expect(code).toBe('smoke_failed');
    expect(message).toMatch(/^run 1: non-finite output \S+$/);
  });

  it('inputs that do not fit the model are smoke_failed, as in the serving smoke', async () => {
    const { code, message } = failure(await vet('mlp', {}, (m) => ({ inputs: m.inputs.map((i) => ({ ...i, shape: [1, 3] })) })));
    expect(code).toBe('smoke_failed');
    expect(message).toMatch(/^run 1 failed: /);
  });

  it('row 10: a file that is not ONNX is load_failed', async () => {
    const model = await writeModel('mlp');
    const bad = join(model.path, '..', 'garbage.onnx');
    await writeFile(bad, 'definitely not a protobuf');
    const { code, message } = failure(await vet('mlp', {}, () => ({ path: bad })));
    expect(code).toBe('load_failed');
    expect(message).toMatch(/^the model file is not a well-formed ONNX protobuf: /);
  });

  it.each(['initializer', 'subgraph'] as const)(
    'row 10: refuses a model with external data (%s) before loading it, naming the tensor',
    async (where) => {
      const model = await writeModel('mlp');
      const path = join(model.path, '..', `external-${where}.onnx`);
      const generated = buildExternalDataModel('../../../etc/passwd', where);
      await writeFile(path, generated.bytes);
      const { code, message } = failure(await vetModelInChild({ path, inputs: generated.inputs, intraOpThreads: 1, seed: 1 }));
      expect(code).toBe('load_failed');
      expect(message).toBe(
        'the model references external data for tensor "w_ext" (location "../../../etc/passwd"); only self-contained models are accepted',
      );
    },
  );

  it("ignores FLEET_AGENT_VETTING_CRASH in the agent's own environment", async () => {
    process.env.FLEET_AGENT_VETTING_CRASH = 'abort';
    try {
      expect((await vet('mlp')).ok).toBe(true);
    } finally {
      delete process.env.FLEET_AGENT_VETTING_CRASH;
    }
  });

  it('a missing child entry is load_failed, not a throw', async () => {
    const { code, message } = failure(await vet('mlp', { childUrl: new URL('file:///nonexistent/vetting.child.js') }));
    expect(code).toBe('load_failed');
    expect(message).toMatch(/vetting process exited with code 1 before it had read the model/);
  });
});
