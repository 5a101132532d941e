export default definePageConfig({ navigationBarTitleText: 'Log in', backgroundColor: '#ededed' })
