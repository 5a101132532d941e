/**
 * `npm run migrate`: bring the archive named by ARCHIVE_URL (or the embedded default) up to this
 * code's schema and exit. The BFF also does this at every start; this is for running it as a step
 * of its own (a Kubernetes Job or an init container before a rollout). Exit 0: up to date; 1: it
 * failed or the schema is newer than this code; 2: bad configuration.
 */
import { loadConfig, ConfigError } from './config'
import { createLogger } from './log'
import { Archive } from './archive/archive'

const log = createLogger(process.env.LOG_LEVEL ?? 'info')
try {
  const config = loadConfig(process.env)
  if (!config.archiveUrl) {
    log.info('ARCHIVE_URL is none: nothing to migrate')
    process.exit(0)
  }
  const archive = await Archive.create({ url: config.archiveUrl, poolSize: 1 })
  try {
    const ran = await archive.migrate()
    log.info({ ran, schema: archive.knownMigrations().pop() }, ran.length > 0 ? 'archive migrated' : 'archive up to date')
  } finally {
    await archive.close()
  }
} catch (err) {
  if (err instanceof ConfigError) {
    log.fatal({ variable: err.variable }, err.message)
    process.exit(2)
  }
  log.fatal({ err }, err instanceof Error ? err.message : String(err))
  process.exit(1)
}
