// Lint rules that catch what the type checker does not: promises left floating (a lost signal or
// an unhandled rejection in a worker), type-only imports (workflow code must import activities as
// types), and import cycles.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const importX = require('eslint-plugin-import-x');

module.exports = tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'coverage/**', 'dist/**', '*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: __dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-empty-function': 'off',
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins there. Handlers
    // decide, the loop acts: no fire-and-forget launches (a `void` promise escapes
    // allHandlersFinished and, beside the loop's own commands, makes their order depend on timing).
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'net', 'http', 'dns', 'dgram', 'os', 'child_process'],
              message: 'workflow code must stay deterministic: no Node APIs',
            },
            {
              group: ['**/workers/*', '**/client/*'],
              message: 'workflows import contracts, core and activity types only',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "UnaryExpression[operator='void']",
          message:
            'handlers decide, the loop acts: queue the work (agent.notify, a hasWork flag) and let the loop start it',
        },
      ],
    },
  },
  {
    // Layers: contracts (bottom) ← core ← workflows / activities ← workers / client.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'net', 'http', 'dns', 'dgram', 'os', 'child_process', '@temporalio/*'],
              message: 'src/core is pure: no I/O, no Temporal imports',
            },
            {
              group: ['**/workflows/*', '**/activities/*', '**/workers/*', '**/client/*', '**/router/*'],
              message: 'src/core imports only src/contracts and itself',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*', 'node:*'],
              message: 'src/contracts is the bottom layer: it imports nothing of the project outside itself',
            },
          ],
        },
      ],
    },
  },
);
