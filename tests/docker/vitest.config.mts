import { defineConfig } from 'vitest/config'

// `npm run test:docker`: kept out of the root config's projects, so `npm test` does not need a
// container engine; .ci/run runs it after scripts/container-setup.sh.
export default defineConfig({
  test: {
    name: 'docker',
    root: new URL('../..', import.meta.url).pathname,
    include: ['tests/docker/**/*.test.ts'],
    environment: 'node',
    // The first build of the image installs the Taro toolchain in a stage: minutes, not seconds.
    testTimeout: 120_000,
    hookTimeout: 1_200_000,
    fileParallelism: false,
  },
})
