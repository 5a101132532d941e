// `npm run lint`: ESLint with typescript-eslint's type-checked recommended rules over every
// TypeScript file, each checked against the tsconfig that includes it (projectService: the root
// tsconfig.json, bff/tsconfig.json, bench/upload/tsconfig.json), and React's hook rules in client/.
// The JavaScript files (build and runner scripts, configs) get ESLint's own recommended rules.
import js from '@eslint/js'
import reactHooks from 'eslint-plugin-react-hooks'
import tseslint from 'typescript-eslint'

/** Node's globals, for the .mjs/.js scripts (the TypeScript files get them from @types/node). */
const nodeGlobals = Object.fromEntries(
  ['process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'fetch', '__dirname', 'require', 'module'].map((name) => [name, 'readonly']),
)

export default tseslint.config(
  {
    ignores: ['**/node_modules/', '**/dist/', 'bff/.test-dist/', 'coverage/', 'test-results/', 'bench/results/', 'data/'],
  },
  {
    files: ['**/*.{ts,tsx,mts,cts}'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // TypeScript reports undefined names itself and knows its ambient globals; the core rule does not.
      'no-undef': 'off',
      // The memory engine, fakes and platform adapters implement async interfaces without awaiting:
      // `async` is how a throw becomes the rejection their callers expect.
      '@typescript-eslint/require-await': 'off',
      // A callback made before the value exists reads it once it does (`let attempt` set after the socket that reports to it).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // A rest pattern leaves out a property by naming it (`const { blob: _blob, ...file } = j.file`).
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // A caught value passed on unchanged (`catch (err) { reject(err) }`) is not a new non-Error reason.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    // tus's stores and lockers throw its own error objects ({ status_code, body } from @tus/utils' ERRORS), which @tus/server turns into the response.
    files: ['bff/src/upload/**/*.ts'],
    rules: { '@typescript-eslint/only-throw-error': 'off' },
  },
  {
    // The Taro fake rejects as WeChat's APIs do: with a plain { errMsg } object, not an Error.
    files: ['client/test/upload/taro.test.ts'],
    rules: { '@typescript-eslint/only-throw-error': 'off' },
  },
  {
    files: ['client/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: nodeGlobals },
  },
  {
    // The service worker template: a worker's globals, and the file list the build writes in.
    files: ['client/sw.js'],
    languageOptions: {
      globals: { self: 'readonly', caches: 'readonly', fetch: 'readonly', Response: 'readonly', URL: 'readonly', __SHELL_FILES__: 'readonly' },
    },
  },
)
