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
  boundary(['apps/fleet-sim/**'], appImports('control-plane', 'device-agent', 'dashboard')),
  // only repositories (and the data layer under infra/) reach the database: services take an opaque
  // Tx from the UnitOfWork, never a client (STYLE practice 9)
  {
    files: ['apps/control-plane/src/**/*.ts'],
    ignores: [
      'apps/control-plane/src/**/*.repository.ts',
      // the composition root and the typed tokens hand connections to repositories; they query nothing
      'apps/control-plane/src/infra/{prisma,unit-of-work,pg-transaction,services,infra.module,tokens}.ts',
      'apps/control-plane/src/app.ts',
      'apps/control-plane/src/**/*.spec.ts',
      'apps/control-plane/src/{test-support,bench}/**',
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...appImports('device-agent', 'dashboard', 'fleet-sim'),
            {
              group: ['pg', '@prisma/*', '**/generated/prisma/*', '**/infra/prisma.js', '**/infra/pg-transaction.js', './prisma.js'],
              message: 'only repositories touch the database: take a Tx from UnitOfWork and call a repository',
            },
          ],
        },
      ],
    },
  },
);
