// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Apps never import each other (ARCHITECTURE.md); `packages/*` import no app. */
const APPS = ['control-plane', 'device-agent', 'dashboard', 'fleet-sim'];
const appImports = (...apps) =>
  apps.map((a) => ({ group: [`@edge-fleet/${a}`, `@edge-fleet/${a}/*`], message: `apps never import another app (${a})` }));
const boundary = (files, patterns) => ({ files, rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] } });

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/.next/**',
      '**/node_modules/**',
      '**/generated/**',
      '**/next-env.d.ts',
      '**/*.config.{js,mjs,ts}',
      '**/scripts/**',
      '.ci/**',
      '.data/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  boundary(['packages/**'], appImports(...APPS)),
  boundary(['apps/control-plane/**'], appImports('device-agent', 'dashboard', 'fleet-sim')),
  // API edges define no schema: REST and tRPC validate with, and OpenAPI documents, @edge-fleet/shared/api (STYLE 5)
  boundary(
    ['apps/control-plane/src/**/*.controller.ts', 'apps/control-plane/src/trpc/*.ts', 'apps/control-plane/src/**/*.openapi.ts'],
    [
      ...appImports('device-agent', 'dashboard', 'fleet-sim'),
      { group: ['zod', 'zod/*'], allowTypeImports: true, message: 'API schemas live in @edge-fleet/shared/api' },
    ],
  ),
  boundary(['apps/device-agent/**'], appImports('control-plane', 'dashboard', 'fleet-sim')),
  // the dashboard may import the tRPC router's type, nothing that runs
  boundary(
    ['apps/dashboard/**'],
    [
      ...appImports('device-agent', 'fleet-sim'),
      {
        group: ['@edge-fleet/control-plane', '@edge-fleet/control-plane/*'],
        allowTypeImports: true,
        message: 'the dashboard imports only the router type',
      },
    ],
  ),
  // bench:agent still drives the agent's engine from fleet-sim (to move into the agent package: issue 11)
  boundary(['apps/fleet-sim/**'], appImports('control-plane', 'dashboard')),
);
