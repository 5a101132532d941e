import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const root = path.dirname(fileURLToPath(import.meta.url))
const alias = { '@': path.join(root, 'client') }

// Each project owns a folder: a package's unit tests are in <package>/test/, mirroring its source
// folders (tests/kit/layout.test.ts holds to it); suites across packages are in tests/. Slow suites (browser, weapp harness, multi-process, Redis Cluster) live
// in their own projects so they can be run alone:
//   npx vitest run --project bff
// `npm test` runs every project but ops (the failure suite, `npm run test:ops`), after
// scripts/test-prereqs.mjs has checked that what they need outside node_modules is there.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'shared', include: ['shared/test/**/*.test.ts'], environment: 'node' } },
      {
        test: {
          name: 'bff',
          include: ['bff/test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        define: { 'process.env.TARO_ENV': JSON.stringify('h5') },
        test: {
          name: 'client',
          include: ['client/test/**/*.test.{ts,tsx}'],
          environment: 'node',
          testTimeout: 20_000,
        },
      },
      { test: { name: 'kit', include: ['tests/kit/**/*.test.ts'], environment: 'node', testTimeout: 60_000 } },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          // Builds the h5 and weapp clients and the BFF when missing or stale.
          globalSetup: ['tests/e2e/global-setup.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'ops',
          include: ['tests/ops/**/*.test.ts'],
          environment: 'node',
          // After every other project: the storm and the load tests take both cores for tens of
          // seconds, which starved the browser tests' timers when they overlapped.
          sequence: { groupOrder: 1 },
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
