/**
 * Heap snapshots of a server through its inspector (Chrome DevTools Protocol), for the storm's
 * memory figures: what the process caches hold (entries and retained bytes, each apart) and, with
 * BENCH_HEAP_SNAPSHOT_DIR, whole snapshots to compare in DevTools or with `byConstructor`.
 *
 * Retained size is V8's: the bytes that would be freed if the object went away, i.e. every object
 * reachable from it and from nothing else (weak edges do not hold). Strings a cache shares with
 * the rest of the process (user ids interned elsewhere) are not counted as the cache's.
 */

/** A parsed snapshot: V8's flat arrays, read in place. */
export interface Snapshot {
  readonly nodes: Uint32Array | number[]
  readonly edges: Uint32Array | number[]
  readonly strings: string[]
  readonly nodeFields: number
  readonly edgeFields: number
  readonly nodeTypes: string[]
  readonly edgeTypes: string[]
  /** Index of each node's first edge in `edges` / edgeFields. */
  readonly firstEdge: Uint32Array
}

/** The CDP calls of an inspector session (run.ts `inspectorSession`). */
export interface CdpSession {
  call(method: string, params?: object): Promise<Record<string, unknown>>
  on(event: string, listener: (params: Record<string, unknown>) => void): () => void
}

/** Take a snapshot (numbers in object fields included: `captureNumericValue`); the raw JSON. */
export async function takeSnapshot(session: CdpSession): Promise<string> {
  const chunks: string[] = []
  const off = session.on('HeapProfiler.addHeapSnapshotChunk', (p) => chunks.push(String(p.chunk)))
  try {
    await session.call('HeapProfiler.enable')
    await session.call('HeapProfiler.collectGarbage')
    await session.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false, captureNumericValue: true })
  } finally {
    off()
  }
  return chunks.join('')
}

export function parseSnapshot(json: string): Snapshot {
  const raw = JSON.parse(json) as {
    snapshot: { meta: { node_fields: string[]; edge_fields: string[]; node_types: [string[]]; edge_types: [string[]] } }
    nodes: number[]
    edges: number[]
    strings: string[]
  }
  const meta = raw.snapshot.meta
  const nodeFields = meta.node_fields.length
  const edgeFields = meta.edge_fields.length
  const count = raw.nodes.length / nodeFields
  const firstEdge = new Uint32Array(count + 1)
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e
    e += raw.nodes[i * nodeFields + 4]!
    firstEdge[i + 1] = e
  }
  return { nodes: Uint32Array.from(raw.nodes), edges: Uint32Array.from(raw.edges), strings: raw.strings, nodeFields, edgeFields, nodeTypes: meta.node_types[0], edgeTypes: meta.edge_types[0], firstEdge }
}

const nodeCount = (s: Snapshot) => s.nodes.length / s.nodeFields
const nameOf = (s: Snapshot, n: number) => s.strings[s.nodes[n * s.nodeFields + 1]!]!
const typeOf = (s: Snapshot, n: number) => s.nodeTypes[s.nodes[n * s.nodeFields]!]!
const selfSize = (s: Snapshot, n: number) => s.nodes[n * s.nodeFields + 3]!
/** The snapshot's own id of node n (HeapProfiler.getObjectByHeapObjectId takes it). */
export const heapId = (s: Snapshot, n: number) => s.nodes[n * s.nodeFields + 2]!

/** Edges n -> m that keep m alive (not weak, not the snapshot's own shortcuts). */
function forEachStrongEdge(s: Snapshot, n: number, visit: (to: number, type: string, name: string | number) => void): void {
  for (let e = s.firstEdge[n]!; e < s.firstEdge[n + 1]!; e++) {
    const type = s.edgeTypes[s.edges[e * s.edgeFields]!]!
    if (type === 'weak' || type === 'shortcut') continue
    const raw = s.edges[e * s.edgeFields + 1]!
    const name = type === 'element' || type === 'hidden' ? raw : s.strings[raw]!
    visit(s.edges[e * s.edgeFields + 2]! / s.nodeFields, type, name)
  }
}

/** Nodes reachable from the root (node 0) without passing through `skip`. */
function reachable(s: Snapshot, skip: ReadonlySet<number>): Uint8Array {
  const seen = new Uint8Array(nodeCount(s))
  const stack = [0]
  seen[0] = 1
  while (stack.length > 0) {
    forEachStrongEdge(s, stack.pop()!, (to) => {
      if (seen[to] || skip.has(to)) return
      seen[to] = 1
      stack.push(to)
    })
  }
  return seen
}

/** The node held by property `prop` of every object whose constructor name matches `owner`. */
export function findHeld(s: Snapshot, owner: RegExp, prop: string): number[] {
  const out: number[] = []
  for (let n = 0; n < nodeCount(s); n++) {
    if (typeOf(s, n) !== 'object' || !owner.test(nameOf(s, n))) continue
    forEachStrongEdge(s, n, (to, type, name) => {
      if (type === 'property' && name === prop) out.push(to)
    })
  }
  return out
}

/** Bytes retained by `targets` together (freed if all of them went away). */
export function retainedSize(s: Snapshot, targets: readonly number[]): number {
  const all = reachable(s, new Set())
  const without = reachable(s, new Set(targets))
  let bytes = 0
  for (let n = 0; n < all.length; n++) if (all[n] && !without[n]) bytes += selfSize(s, n)
  return bytes
}

/** Count and self size of reachable objects by "type constructor", largest first: to compare two snapshots. */
export function byConstructor(s: Snapshot): Map<string, { count: number; bytes: number }> {
  const live = reachable(s, new Set())
  const out = new Map<string, { count: number; bytes: number }>()
  for (let n = 0; n < live.length; n++) {
    if (!live[n]) continue
    const type = typeOf(s, n)
    const key = `${type} ${type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' ? nameOf(s, n) : ''}`
    const row = out.get(key) ?? { count: 0, bytes: 0 }
    row.count++
    row.bytes += selfSize(s, n)
    out.set(key, row)
  }
  return new Map([...out].sort((a, b) => b[1].bytes - a[1].bytes))
}
