export default definePageConfig({ navigationBarTitleText: 'Naive baseline', disableScroll: true })
