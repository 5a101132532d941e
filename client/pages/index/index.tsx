import { Text, View } from '@tarojs/components'
import { PROTOCOL_VERSION } from '@chat/shared'

export default function Index() {
  return (
    <View>
      <Text>Chat protocol v{PROTOCOL_VERSION}</Text>
    </View>
  )
}
