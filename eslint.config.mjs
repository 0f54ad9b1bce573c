// Flat config: TypeScript rules everywhere and module boundaries by layer (Nx project tags):
//   type:lib   libraries (libs/*): may use libraries only
//   type:app   the three processes (apps/*): may use libraries
//   type:tool  testbed, fleet simulator (tools/*): may use libraries; never imported by product code
//   type:test  the kernel's own test project (bpf/): may use libraries and tools
// Test-support code (`@tma/<lib>/testing` entries, tools) is for specs, test folders, tools and benchmarks only.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** The boundary rule with each tag's allowed dependencies; tests also reach tools. */
const boundaries = (forTests) => [
  'error',
  {
    allow: [],
    depConstraints: [
      { sourceTag: 'type:lib', onlyDependOnLibsWithTags: forTests ? ['type:lib', 'type:tool'] : ['type:lib'] },
      { sourceTag: 'type:app', onlyDependOnLibsWithTags: forTests ? ['type:lib', 'type:tool'] : ['type:lib'] },
      { sourceTag: 'type:tool', onlyDependOnLibsWithTags: forTests ? ['type:lib', 'type:tool'] : ['type:lib'] },
      { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:lib', 'type:tool'] },
    ],
  },
];

const TEST_FILES = [
  '**/*.spec.ts',
  '**/test/**/*.ts',
  '**/test-support/**/*.ts',
  '**/testing/**/*.ts',
  '**/*.fixture.ts',
];

export default [
  {
    ignores: ['**/node_modules', '**/dist', '.state/**', '.nx/**', '**/*.generated.ts'],
  },
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': boundaries(false),
    },
  },
  // Product code of apps and libraries never loads test support.
  {
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    ignores: TEST_FILES,
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@tma/*/testing'], message: 'test support is for specs, tools and benchmarks only' }] },
      ],
    },
  },
  { files: TEST_FILES, rules: { '@nx/enforce-module-boundaries': boundaries(true) } },
  { files: ['**/*.js', '**/*.cjs', '**/*.mjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
];
