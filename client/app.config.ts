export default defineAppConfig({
  pages: ['pages/index/index', 'pages/chat/index', 'pages/new/index', 'pages/login/index'],
  window: {
    backgroundTextStyle: 'dark',
    navigationBarBackgroundColor: '#ededed',
    navigationBarTitleText: 'Chat',
    navigationBarTextStyle: 'black',
    backgroundColor: '#ededed',
  },
})
