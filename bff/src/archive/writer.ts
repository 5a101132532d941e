/**
 * Group commit into the archive: writes asked while one transaction is running are gathered and
 * go together in the next, so N concurrent sends cost one transaction (and, on SQLite, one WAL
 * commit), not N. Each `write` resolves when its rows are committed, in the order asked.
 */
import type { Archive, ArchivedMessage, ReadMark } from './archive'

interface Pending {
  readonly messages: ArchivedMessage[]
  readonly marks: ReadMark[]
  readonly waiters: { resolve: () => void; reject: (err: unknown) => void }[]
}

export class ArchiveWriter {
  private next: Pending | undefined
  private running = false

  constructor(private readonly archive: Archive) {}

  write(messages: readonly ArchivedMessage[], marks: readonly ReadMark[] = []): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = (this.next ??= { messages: [], marks: [], waiters: [] })
      p.messages.push(...messages)
      p.marks.push(...marks)
      p.waiters.push({ resolve, reject })
      if (!this.running) void this.flush()
    })
  }

  private async flush(): Promise<void> {
    this.running = true
    while (this.next) {
      const batch = this.next
      this.next = undefined
      try {
        await this.archive.write(batch.messages, batch.marks)
        for (const w of batch.waiters) w.resolve()
      } catch (err) {
        for (const w of batch.waiters) w.reject(err)
      }
    }
    this.running = false
  }
}
