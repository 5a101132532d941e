/**
 * The report actions as every page shows them (a message's long press, a contact's or a group
 * member's "投诉"): WeChat's action sheet for the reason (the fixed list has 6, the sheet's most)
 * and a toast for the outcome. The decisions are in net/moderation.ts.
 */
import Taro from '@tarojs/taro'
import type { UserId } from '@chat/shared'
import { t, type MessageKey } from '../i18n'
import { reportMessage, reportUser, type ReportOutcome, type ReportUi } from '../net/moderation'
import { moderation, store } from '../services'
import { chooseAction } from './dialog'

const NOTICE: Record<ReportOutcome, MessageKey> = { reported: 'report.done', 'rate-limited': 'report.rateLimited', failed: 'report.failed' }

export const reportUi: ReportUi = {
  choose: (reasons) => chooseAction(reasons.map((r) => t(`report.reason.${r}`))),
  notice: (outcome) => void Taro.showToast({ title: t(NOTICE[outcome]), icon: 'none' }),
}

/** Report another member's stored message (its long-press menu). */
export function reportMessageFromMenu(m: Parameters<typeof reportMessage>[2]): Promise<string | undefined> {
  return reportMessage(moderation, reportUi, m, store.getState().me?.id)
}

/** Report a person from their row (contacts, group members). */
export function reportPerson(user: UserId): Promise<string | undefined> {
  return reportUser(moderation, reportUi, user, store.getState().me?.id)
}
