/**
 * The deployment files agree with the BFF they deploy: the settings they give it pass its own
 * config validation (bff/src/config.ts), the time Kubernetes and compose give a pod to stop exceeds
 * the BFF's drain bound, probes hit the endpoints that exist, autoscaling targets the Deployment
 * below MAX_CONNECTIONS, and the pod runs as the image's user.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import YAML from 'yaml'
import { loadConfig } from '../../bff/src/config'
import { repoRoot } from './support/project-copy'

// The parts of each file these tests read.
interface Kustomization { resources: string[] }
interface ConfigMap { data: Record<string, string> }
interface Secret { stringData: Record<string, string> }
interface Container {
  image: string
  env: { name: string; value: string }[]
  volumeMounts: { mountPath: string }[]
  lifecycle: { preStop: { exec: { command: string[] } } }
  readinessProbe: { httpGet: unknown }
  livenessProbe: { httpGet: unknown }
  ports: { name: string; containerPort: number }[]
  securityContext: { readOnlyRootFilesystem?: boolean }
}
interface Deployment {
  metadata: { name: string }
  spec: {
    selector: { matchLabels: Record<string, string> }
    template: { spec: { containers: Container[]; terminationGracePeriodSeconds: number; securityContext: Record<string, unknown> } }
  }
}
interface Service { spec: { selector: Record<string, string>; ports: { name?: string; port?: number; targetPort: string | number }[] } }
interface ServiceMonitor { spec: { endpoints: Record<string, unknown>[] } }
interface HpaMetric {
  type: string
  pods: { metric: { name: string }; target: { averageValue: string | number } }
  resource: { name: string }
}
interface Hpa { spec: { scaleTargetRef: Record<string, unknown>; metrics: HpaMetric[] } }
interface ComposeService {
  environment: Record<string, unknown>
  stop_grace_period: string
  init: boolean
  command: string[]
  volumes: string[]
  healthcheck: { test: string[] }
  depends_on: string[]
}
interface Compose {
  services: Record<'bff-1' | 'bff-2' | 'redis' | 'mysql', ComposeService>
  volumes: Record<string, unknown>
}

function docs<T>(file: string): T[] {
  return YAML.parseAllDocuments(readFileSync(path.join(repoRoot, file), 'utf8')).map((d) => d.toJSON() as T)
}

const k8s = <T>(name: string): T => docs<T>(`deploy/k8s/${name}`)[0]!

describe('deploy/k8s', () => {
  const kustomization = k8s<Kustomization>('kustomization.yaml')
  const config = k8s<ConfigMap>('configmap.yaml')
  const secret = k8s<Secret>('secret.example.yaml')
  const deployment = k8s<Deployment>('deployment.yaml')
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]!

  it('lists every manifest it should apply, and they parse', () => {
    for (const file of kustomization.resources) expect(docs(`deploy/k8s/${file}`).length).toBeGreaterThan(0)
    expect(kustomization.resources).not.toContain('secret.example.yaml')
  })

  it('gives the BFF settings its config validation accepts (with a real secret in place of the example)', () => {
    const env = { ...config.data, ...secret.stringData, ...Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value])) }
    // The example's placeholder is public: a production start with it is refused.
    expect(() => loadConfig(env)).toThrow(/JWT_SECRET is a built-in or example value/)
    const c = loadConfig({ ...env, JWT_SECRET: 'c0ffee5e11'.repeat(5) })
    expect(c.production).toBe(true)
    expect(c.store).toBe('redis')
    expect(c.redisClusterNodes.length).toBe(3)
    expect(c.workers).toBe(1)
    expect(c.devLogin).toBe(false)
    expect(c.host).toBe('0.0.0.0')
    // The upload volume is mounted where UPLOAD_DIR points.
    expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain(c.uploads.dir)
  })

  it('lets a pod drain before Kubernetes kills it', () => {
    const c = loadConfig({ ...config.data, ...secret.stringData, JWT_SECRET: 'c0ffee5e11'.repeat(5) })
    const preStopS = Number(container.lifecycle.preStop.exec.command[1])
    expect(container.lifecycle.preStop.exec.command[0]).toBe('sleep')
    // The BFF exits at the latest SHUTDOWN_TIMEOUT_MS + 1 s after SIGTERM (bff/src/main.ts).
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopS * 1000 + c.shutdownTimeoutMs + 1000)
  })

  it('probes readiness on /readyz and liveness on /healthz of the container port', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' })
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' })
    expect(container.ports).toContainEqual({ name: 'http', containerPort: 8080 })
    const service = k8s<Service>('service.yaml')
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels)
    expect(service.spec.ports[0]!.targetPort).toBe('http')
  })

  it('keeps /metrics off the public port: its own port, scraped by the ServiceMonitor, not routed by the Ingress', () => {
    const c = loadConfig({ ...config.data, JWT_SECRET: 'c0ffee5e11'.repeat(5) })
    expect(c.metricsPort).toBe(9464)
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: c.metricsPort })
    expect(k8s<Service>('service.yaml').spec.ports).toContainEqual({ name: 'metrics', port: 9464, targetPort: 'metrics' })
    expect(k8s<ServiceMonitor>('servicemonitor.yaml').spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })])
    expect(JSON.stringify(k8s<unknown>('ingress.yaml'))).not.toMatch(/metrics/)
  })

  it('autoscales the Deployment on connections below MAX_CONNECTIONS, and on CPU', () => {
    const hpa = k8s<Hpa>('hpa.yaml')
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name })
    const byConnections = hpa.spec.metrics.find((m) => m.type === 'Pods')!
    expect(byConnections.pods.metric.name).toBe('chat_connections')
    expect(Number(byConnections.pods.target.averageValue)).toBeLessThan(Number(config.data.MAX_CONNECTIONS))
    expect(hpa.spec.metrics.some((m) => m.type === 'Resource' && m.resource.name === 'cpu')).toBe(true)
  })

  it('runs as the image’s non-root user with a read-only root file system', () => {
    // bff/Dockerfile: USER node, uid 1000 in node:20-bookworm-slim.
    expect(readFileSync(path.join(repoRoot, 'bff/Dockerfile'), 'utf8')).toMatch(/^USER node$/m)
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 })
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true)
  })
})

describe('deploy/k8s/archive (the archive overlay: persisters as a Deployment of their own)', () => {
  const overlay = docs<Kustomization & { patches: { path: string }[] }>('deploy/k8s/archive/kustomization.yaml')[0]!
  const base = k8s<ConfigMap>('configmap.yaml')
  const patch = docs<ConfigMap>('deploy/k8s/archive/configmap-patch.yaml')[0]!
  const persister = docs<Deployment & { spec: { replicas: number } }>('deploy/k8s/archive/persister.yaml')[0]!
  const container = persister.spec.template.spec.containers[0]! as Container & { command: string[]; envFrom: Record<string, { name: string }>[] }
  // What the overlay's Secret holds beyond the base's (secret.example.yaml names them).
  const env = {
    ...base.data,
    ...patch.data,
    JWT_SECRET: 'c0ffee5e11'.repeat(5),
    REDIS_URL: 'redis://:p4ss@redis-master.chat.svc:6379',
    ARCHIVE_URL: 'mysql://chat:my5ql@mysql-primary.chat.svc:3306/chat',
  }

  it('applies the base, the persister Deployment and the ConfigMap patch', () => {
    expect(overlay.resources).toEqual(['../', 'persister.yaml'])
    expect(overlay.patches.map((p) => p.path)).toEqual(['configmap-patch.yaml'])
    expect(readFileSync(path.join(repoRoot, 'deploy/k8s/secret.example.yaml'), 'utf8')).toMatch(/# ARCHIVE_URL: mysql:\/\//)
  })

  it('gives the BFF pods an archive on a standalone Redis and no persister of their own', () => {
    const c = loadConfig(env)
    expect(c.redisClusterNodes).toEqual([])
    expect(c.archiveUrl).toBe(env.ARCHIVE_URL)
    expect(c.archivePersister).toBe('none')
  })

  it('runs the persister process from the same image, ConfigMap and Secret, and lets it finish its batches on SIGTERM', () => {
    expect(container.image).toBe(k8s<Deployment>('deployment.yaml').spec.template.spec.containers[0]!.image)
    expect(container.command).toEqual(['node', 'bff/dist/persister.js'])
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'chat-bff' } }, { secretRef: { name: 'chat-bff' } }])
    expect(persister.spec.replicas).toBeGreaterThanOrEqual(2)
    expect(persister.spec.selector.matchLabels).toEqual({ app: 'chat-persister' })
    // The persister exits at the latest SHUTDOWN_TIMEOUT_MS after SIGTERM (bff/src/persister.ts).
    expect(persister.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(loadConfig(env).shutdownTimeoutMs)
    expect(persister.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 })
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true)
  })

  it('serves the persister’s /metrics and /healthz on its own port, probed for liveness only', () => {
    const c = loadConfig({ ...env, ...Object.fromEntries(container.env.map((e) => [e.name, e.value])) })
    expect(c.persisterMetricsPort).toBe(9465)
    expect(c.host).toBe('0.0.0.0')
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: c.persisterMetricsPort })
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' })
    expect(container.readinessProbe).toBeUndefined()
  })
})

describe('docker-compose.yml', () => {
  const compose = docs<Compose>('docker-compose.yml')[0]!
  // Compose's own interpolation: ${VAR:-default} and ${VAR:?message} with the values given.
  const given: Record<string, string> = { REDIS_PASSWORD: 'p4ss', MYSQL_PASSWORD: 'my5ql', JWT_SECRET: 'c0ffee5e11'.repeat(5) }
  const interpolate = (v: unknown): string =>
    String(v).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => given[name] ?? (op === '-' ? (arg ?? '') : ''))

  it('gives both replicas settings the BFF accepts, on the Redis engine', () => {
    for (const name of ['bff-1', 'bff-2'] as const) {
      const env = Object.fromEntries(Object.entries(compose.services[name].environment).map(([k, v]) => [k, interpolate(v)]))
      const c = loadConfig({ ...env, PORT: '8080', HOST: '0.0.0.0' })
      expect(c.store).toBe('redis')
      expect(c.redisUrl).toBe('redis://:p4ss@redis:6379')
      expect(c.archiveUrl).toBe('mysql://chat:my5ql@mysql:3306/chat')
      // Each replica starts its persister as a child process (docker-compose.yml says why).
      expect(c.archivePersister).toBe('process')
      expect(c.production).toBe(true)
    }
  })

  it('stops a replica only after its drain bound, and keeps Redis on AOF', () => {
    const bff = compose.services['bff-1']
    const drainMs = Number(interpolate(bff.environment.SHUTDOWN_TIMEOUT_MS))
    expect(Number(/^(\d+)s$/.exec(bff.stop_grace_period)![1]) * 1000).toBeGreaterThan(drainMs + 1000)
    expect(bff.init).toBe(true)
    const args = compose.services.redis.command.map(interpolate)
    expect(args.slice(args.indexOf('--appendonly'), args.indexOf('--appendonly') + 2)).toEqual(['--appendonly', 'yes'])
    expect(['everysec', 'always']).toContain(args[args.indexOf('--appendfsync') + 1])
    expect(args[args.indexOf('--maxmemory-policy') + 1]).toBe('noeviction')
  })

  it('runs MariaDB on a volume with a healthcheck, its credentials from .env, and the BFF waits for it', () => {
    const mysql = compose.services.mysql
    expect(mysql.volumes).toContain('mysql-data:/var/lib/mysql')
    expect(compose.volumes).toHaveProperty('mysql-data')
    expect(mysql.healthcheck.test.join(' ')).toMatch(/mariadb-admin ping/)
    expect(interpolate(mysql.environment.MARIADB_PASSWORD)).toBe('my5ql')
    expect(String(mysql.environment.MARIADB_ROOT_PASSWORD)).toMatch(/^\$\{MYSQL_ROOT_PASSWORD:\?/)
    expect(compose.services['bff-1'].depends_on).toEqual(['redis', 'mysql'])
    // The BFF waits for MariaDB's first start (volume initialisation) itself.
    expect(Number(interpolate(compose.services['bff-1'].environment.ARCHIVE_CONNECT_TIMEOUT_MS))).toBeGreaterThanOrEqual(60_000)
    expect(mysql.command.map(interpolate)).toEqual(expect.arrayContaining(['--character-set-server=utf8mb4', '--collation-server=utf8mb4_bin']))
  })
})
