import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Dependency direction (STYLE practice 10): no import cycle between files, and none between the
 * domain folders once the edges are set aside. Edges (controllers, modules, job processors, MQTT
 * handlers, the tRPC router, the OpenAPI document and the entry points) sit on top of every domain
 * and may compose several; below them, a folder that imports another is never imported back by it.
 */
const SRC = path.dirname(fileURLToPath(import.meta.url));

const EDGE_FILE = /\.(controller|module|processor|handler|mqtt-handler|router)\.ts$/;
// the entry points and the typed injection tokens (wiring: they name every domain's infrastructure type)
const EDGES = new Set(['app.ts', 'app.module.ts', 'main.ts', 'api.ts', 'worker.ts', 'health/openapi.ts', 'infra/tokens.ts']);
const EDGE_FOLDERS = new Set(['trpc', 'bootstrap']);
const SKIPPED_FOLDERS = new Set(['generated', 'test-support', 'bench']);

type Graph = Map<string, Set<string>>;

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return SKIPPED_FOLDERS.has(path.relative(SRC, full)) ? [] : sourceFiles(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') && !e.name.endsWith('.d.ts') ? [path.relative(SRC, full)] : [];
  });
}

/** The src-relative files a file imports (relative specifiers only; `import type` counts too). */
export function importsOf(file: string, text: string): string[] {
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1] ?? '');
  return specifiers.map((s) => path.join(path.dirname(file), s).replace(/\.js$/, '.ts'));
}

function folderOf(file: string): string {
  return file.includes(path.sep) ? (file.split(path.sep)[0] ?? '.') : '.';
}

function isEdge(file: string): boolean {
  return EDGE_FILE.test(file) || EDGES.has(file) || EDGE_FOLDERS.has(folderOf(file));
}

/** Every cycle's members, one list per strongly connected component larger than one node (Tarjan). */
export function cycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
      onStack.delete(w);
      component.push(w);
    }
    if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

function graphOf(edges: [string, string][]): Graph {
  const g: Graph = new Map();
  for (const [from, to] of edges) {
    if (!g.has(to)) g.set(to, new Set());
    g.set(from, (g.get(from) ?? new Set()).add(to));
  }
  return g;
}

const files = sourceFiles();
const fileImports: [string, string][] = files.flatMap((f) =>
  importsOf(f, readFileSync(path.join(SRC, f), 'utf8'))
    .filter((to) => files.includes(to))
    .map((to): [string, string] => [f, to]),
);

describe('import graph', () => {
  it('finds a cycle when there is one (so the checks below can fail)', () => {
    expect(
      cycles(
        graphOf([
          ['a', 'b'],
          ['b', 'c'],
          ['c', 'a'],
          ['c', 'd'],
        ]),
      ),
    ).toEqual([['a', 'b', 'c']]);
    expect(
      cycles(
        graphOf([
          ['a', 'b'],
          ['b', 'c'],
          ['a', 'c'],
        ]),
      ),
    ).toEqual([]);
    expect(importsOf('x/y.ts', "import type { A } from '../z/a.js';\nimport {\n  b,\n} from './b.js';\nexport * from './c.js';")).toEqual([
      'z/a.ts',
      'x/b.ts',
      'x/c.ts',
    ]);
  });

  it('reads the source it checks', () => {
    expect(files).toContain('rollouts/rollouts.service.ts');
    expect(fileImports.length).toBeGreaterThan(100);
  });

  it('has no cycle between files', () => {
    expect(cycles(graphOf(fileImports))).toEqual([]);
  });

  it('has no cycle between domain folders below the edges', () => {
    const folderImports = fileImports
      .filter(([from]) => !isEdge(from))
      .map(([from, to]): [string, string] => [folderOf(from), folderOf(to)])
      .filter(([from, to]) => from !== to);
    const found = cycles(graphOf(folderImports));
    // on failure, name the files behind each cycle's imports
    const culprits = found.map((c) =>
      fileImports.filter(
        ([from, to]) => !isEdge(from) && c.includes(folderOf(from)) && c.includes(folderOf(to)) && folderOf(from) !== folderOf(to),
      ),
    );
    expect({ cycles: found, imports: culprits }).toEqual({ cycles: [], imports: [] });
  });
});
