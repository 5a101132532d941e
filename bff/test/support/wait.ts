/**
 * Poll a condition that has no event of its own (what a store holds, a metric), failing after a
 * bound. Frames are awaited with TestClient.next instead.
 */
export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
