import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigSchema } from './config.js';

/** The Kubernetes manifests in deploy/kubernetes, checked offline against the API's schemas and our config. */
const DIR = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));

interface Doc {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

interface Container {
  name: string;
  env?: { name: string; valueFrom?: { configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
}

const docs: Doc[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      const body = d.toJSON() as Omit<Doc, 'file'>;
      return { ...body, file } as Doc;
    }),
  );

const workloads = docs.filter((d) => ['Deployment', 'StatefulSet'].includes(d.kind));
const containersOf = (d: Doc): Container[] => {
  const spec = (d.spec as { template: { spec: { containers: Container[]; initContainers?: Container[] } } }).template.spec;
  return [...(spec.initContainers ?? []), ...spec.containers];
};
const dataOf = (kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> | null => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) return null;
  return (kind === 'Secret' ? d.stringData : d.data) as Record<string, string>;
};

describe('deploy/kubernetes manifests', () => {
  it('are each valid for the Kubernetes API they name (JSON schemas of kubernetes-models)', async () => {
    const core = docs.filter((d) => !d.apiVersion.includes('.') || d.apiVersion.includes('k8s.io'));
    expect(core.length).toBeGreaterThan(10);
    for (const d of core) {
      const module = (await import(`kubernetes-models/${d.apiVersion}`)) as Record<string, new (o: unknown) => { validate(): void }>;
      const Model = module[d.kind];
      if (!Model) throw new Error(`${d.file}: no model for ${d.apiVersion} ${d.kind}`);
      const { file: _file, ...body } = d;
      expect(() => new Model(body).validate(), `${d.file}: ${d.kind} ${d.metadata.name}`).not.toThrow();
    }
  });

  it('refuses a manifest that breaks the schema (the check can fail)', async () => {
    const { Deployment } = await import('kubernetes-models/apps/v1');
    const api = workloads.find((d) => d.metadata.name === 'api');
    const broken = structuredClone(api) as unknown as {
      spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } };
    };
    const port = broken.spec.template.spec.containers[0]?.ports[0];
    if (port) port.containerPort = 'eighty';
    expect(() => new Deployment(broken as never).validate()).toThrow(/containerPort must be integer/);
  });

  it('put every resource in the edge-fleet namespace', () => {
    for (const d of docs.filter((x) => x.kind !== 'Namespace'))
      expect(d.metadata.namespace, `${d.file}: ${d.kind} ${d.metadata.name}`).toBe('edge-fleet');
  });

  it('give the control plane only settings its configuration knows, so a misspelt one cannot be ignored silently', () => {
    const known = new Set(Object.keys(ConfigSchema.shape));
    const cp = workloads.filter((d) => ['api', 'worker'].includes(d.metadata.name));
    expect(cp.map((d) => d.metadata.name).sort()).toEqual(['api', 'worker']);
    for (const d of cp) {
      for (const c of containersOf(d)) {
        const names = [
          ...(c.env ?? []).map((e) => e.name),
          ...(c.envFrom ?? []).flatMap((f) => {
            const source = f.configMapRef
              ? dataOf('ConfigMap', f.configMapRef.name)
              : f.secretRef
                ? dataOf('Secret', f.secretRef.name)
                : null;
            if (!source) throw new Error(`${d.file}: ${c.name} reads a ConfigMap or Secret that is not defined here`);
            return Object.keys(source);
          }),
        ];
        for (const n of names) expect(known.has(n), `${d.metadata.name}: ${n} is not a control-plane setting`).toBe(true);
      }
    }
  });

  it('refer only to ConfigMap and Secret keys defined here', () => {
    for (const d of workloads)
      for (const c of containersOf(d))
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          const data = dataOf(e.valueFrom?.configMapKeyRef ? 'ConfigMap' : 'Secret', ref.name);
          expect(data && ref.key in data, `${d.metadata.name}/${c.name}: ${ref.name}.${ref.key}`).toBe(true);
        }
  });
});
