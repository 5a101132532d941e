export default definePageConfig({
  navigationBarTitleText: 'Chats',
  enablePullDownRefresh: true,
  backgroundColor: '#ededed',
})
