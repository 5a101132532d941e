export default definePageConfig({
  navigationBarTitleText: 'Chat',
  // The page itself never scrolls: the message list does.
  disableScroll: true,
  backgroundColor: '#ededed',
})
