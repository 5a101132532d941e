/**
 * "The lists' viewports may have changed size": raised by what sits beside a list and changes its
 * height without the list rendering (the chat composer growing a line, opening its panel). h5 needs
 * none (a ResizeObserver sees every change); a mini-program has no ResizeObserver on a scroll-view,
 * so ChatList measures its viewport again through a selector query when this fires.
 */
const listeners = new Set<() => void>()

/** Called by ChatList: `cb` runs on every signal until the returned function is called. */
export function onViewportChange(cb: () => void): () => void {
  listeners.add(cb)
  return () => listeners.delete(cb)
}

/** Something beside the lists changed their viewports' size (or may have). */
export function viewportChanged(): void {
  for (const cb of [...listeners]) cb()
}
