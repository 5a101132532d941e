// CHAT_BENCH_PAGES=1 (the benchmark's build only) adds the naive baseline page of bench/client.
const benchPages = process.env.CHAT_BENCH_PAGES === '1' ? ['bench/naive/index'] : []

export default defineAppConfig({
  pages: ['pages/index/index', 'pages/chat/index', 'pages/new/index', 'pages/login/index', 'pages/contacts/index', 'pages/group/index', 'pages/dm/index', ...benchPages],
  window: {
    backgroundTextStyle: 'dark',
    navigationBarBackgroundColor: '#ededed',
    navigationBarTitleText: '聊天',
    navigationBarTextStyle: 'black',
    backgroundColor: '#ededed',
  },
})
