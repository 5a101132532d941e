// The zh-CN title (shown before the page runs); the page sets it in the chosen language (client/i18n).
export default definePageConfig({
  navigationBarTitleText: '聊天',
  // The page itself never scrolls: the message list does.
  disableScroll: true,
  backgroundColor: '#ededed',
})
