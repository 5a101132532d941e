/**
 * The platform's action sheet and confirmation, their buttons in the app's language (which the user
 * may have switched away from the phone's: i18n/index.ts).
 */
import Taro from '@tarojs/taro'
import { t } from '../i18n'

/**
 * The action sheet's items; resolves to the index tapped, undefined when cancelled.
 *
 * h5: Taro draws the sheet itself and writes its cancel as a fixed '取消', with no option to change
 * it (@tarojs/taro-h5 api/ui/interaction/actionSheet.js, `this.cancel.textContent = '取消'`); the
 * sheet is built synchronously by the call and kept for the next one, so its cancel is relabelled
 * here. weapp: WeChat draws it, in WeChat's language, and takes no cancel text either.
 */
export function chooseAction(itemList: string[]): Promise<number | undefined> {
  const shown = Taro.showActionSheet({ itemList }).then(
    (r) => r.tapIndex,
    () => undefined,
  )
  if (process.env.TARO_ENV === 'h5') labelSheetCancel(t('dialog.cancel'))
  return shown
}

/** h5: Taro's sheet is `.taro__actionSheet` > [mask, sheet > [items, cancel]]; the cancel has no class. */
function labelSheetCancel(text: string): void {
  if (typeof document === 'undefined') return
  const cancel = document.querySelector('.taro__actionSheet')?.lastElementChild?.lastElementChild
  if (cancel && cancel.textContent !== text) cancel.textContent = text
}

/**
 * A confirmation of `content`, with OK (or `confirmText`) and Cancel in the app's language, under
 * `title` if given; true when confirmed. weapp: WeChat cuts a confirm text past 4 Chinese characters.
 */
export async function confirmed(content: string, options?: { readonly title?: string; readonly confirmText?: string }): Promise<boolean> {
  const r = await Taro.showModal({
    ...(options?.title !== undefined ? { title: options.title } : {}),
    content,
    confirmText: options?.confirmText ?? t('dialog.ok'),
    cancelText: t('dialog.cancel'),
  })
  return r.confirm
}
