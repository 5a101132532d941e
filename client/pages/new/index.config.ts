export default definePageConfig({ navigationBarTitleText: 'New chat', backgroundColor: '#ededed' })
