// The zh-CN title (shown before the page runs); the page sets it in the chosen language (client/i18n).
export default definePageConfig({ navigationBarTitleText: '聊天信息', backgroundColor: '#ededed' })
