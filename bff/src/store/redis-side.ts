/**
 * The Redis connection of a store that sits beside the chat engine (relations, conversation
 * settings): its own client, failing fast like the engine's (a refused operation becomes
 * STORE_UNAVAILABLE in the store, never a hang), with the store's Lua scripts defined on it.
 */
import { Cluster, Redis } from 'ioredis'

export interface RedisSideOptions {
  readonly url: string
  readonly clusterNodes: readonly { host: string; port: number }[]
  readonly prefix: string
  readonly commandTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly onError?: (err: unknown) => void
}

export type SideClient = Redis | Cluster

/** Connect, with `scripts` (name -> keys and Lua) defined; `what` names the store in the error of an unreachable Redis. */
export async function openSideClient(
  options: RedisSideOptions,
  /** numberOfKeys left out: the caller passes it first (a script whose keys vary). */
  scripts: Readonly<Record<string, { readonly numberOfKeys?: number; readonly lua: string }>>,
  what: string,
): Promise<SideClient> {
  const base = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    lazyConnect: true,
  }
  const client: SideClient =
    options.clusterNodes.length > 0
      ? new Cluster([...options.clusterNodes], { enableOfflineQueue: false, lazyConnect: true, redisOptions: base })
      : new Redis(options.url, base)
  client.on('error', options.onError ?? (() => {}))
  for (const [name, script] of Object.entries(scripts)) client.defineCommand(name, script)
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    throw new Error(`Redis unreachable at start (${what}): ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  return client
}
