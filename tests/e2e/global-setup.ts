/**
 * `npm test` is the only command CI runs: the e2e tests build what they need (the h5 and weapp
 * clients, the BFF) when it is missing or stale. Builds run one after another: the machine has two
 * cores and webpack uses both.
 */
import { ensureBuilt, TARGETS } from './build'

export default async function setup(): Promise<void> {
  await ensureBuilt(TARGETS.bff)
  await ensureBuilt(TARGETS.weappHarness)
  await ensureBuilt(TARGETS.h5)
}
