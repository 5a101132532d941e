/**
 * One row of the chat list: an optional time separator, then the bubble with avatar and, for our
 * own messages, the send state. Few nodes and short class names: each row's subtree is what a
 * scroll step sends through setData.
 */
import { Image, Text, View } from '@tarojs/components'
import Taro from '@tarojs/taro'
import { memo } from 'react'
import type { FileBody } from '@chat/shared'
import { fileSize } from '../format'
import { imageBox } from '../list/estimate'
import type { ChatMessage, DisplayStatus } from '../store/types'
import { Avatar } from './Avatar'
import { imageSrc } from './media'
import './chat.css'

export interface RowProps {
  readonly m: ChatMessage
  readonly own: boolean
  /** Time separator text, if one is shown above. */
  readonly time?: string
  /** Sender's name (groups, others only). */
  readonly name?: string
  readonly senderName: string
  readonly status?: DisplayStatus
  readonly onRetry: (m: ChatMessage) => void
  readonly onImage: (m: ChatMessage) => void
  readonly onFile: (m: ChatMessage) => void
}

const GLYPH: Record<DisplayStatus, string> = {
  sending: '',
  failed: '!',
  sent: '✓',
  delivered: '✓✓',
  read: 'Read',
}

export const MessageRow = memo(function MessageRow(p: RowProps) {
  const { m, own } = p
  return (
    <View className='r'>
      {p.time ? (
        <View className='tm'>
          <Text>{p.time}</Text>
        </View>
      ) : null}
      <View className={own ? 'ln me' : 'ln'}>
        <Avatar id={m.from} name={p.senderName} />
        <View className='col'>
          {p.name ? <Text className='nm'>{p.name}</Text> : null}
          <View className='bx'>
            {own && p.status ? (
              <View
                className={`st st-${p.status}`}
                onClick={p.status === 'failed' ? () => p.onRetry(m) : undefined}
              >
                {GLYPH[p.status]}
              </View>
            ) : null}
            <Bubble m={m} own={own} onImage={p.onImage} onFile={p.onFile} />
          </View>
        </View>
      </View>
    </View>
  )
})

function Bubble(p: { m: ChatMessage; own: boolean; onImage: (m: ChatMessage) => void; onFile: (m: ChatMessage) => void }) {
  const { m } = p
  if (m.kind === 'text') {
    return (
      <View className={p.own ? 'b b-me' : 'b'}>
        <Text className='bt' userSelect>
          {'text' in m.body ? m.body.text : ''}
        </Text>
      </View>
    )
  }
  const progress = m.upload && !m.upload.done ? Math.floor((100 * m.upload.sentBytes) / Math.max(1, m.upload.totalBytes)) : undefined
  if (m.kind === 'image') {
    const b = m.body as { width?: number; height?: number }
    const box = imageBox(b.width, b.height)
    return (
      <View className='im' style={`width:${Taro_px(box.w)};height:${Taro_px(box.h)}`} onClick={() => p.onImage(m)}>
        <Image className='im-i' src={imageSrc(m)} mode='aspectFill' lazyLoad />
        {progress !== undefined ? (
          <View className='im-p'>
            <Text>{m.upload?.failure ? 'Failed' : `${progress}%`}</Text>
          </View>
        ) : null}
      </View>
    )
  }
  const body = m.body as Partial<FileBody> & { name: string; size: number }
  const ext = (body.name.split('.').pop() ?? '').slice(0, 4).toUpperCase() || 'FILE'
  return (
    <View className='fc' onClick={() => p.onFile(m)}>
      <View className='fc-t'>
        <Text className='fc-n'>{body.name}</Text>
        <Text className='fc-s'>{fileSize(body.size)}</Text>
      </View>
      <View className='fc-i'>
        <Text>{ext}</Text>
      </View>
      {progress !== undefined ? (
        <View className='fc-p'>
          <View className='fc-pb' style={`width:${progress}%`} />
        </View>
      ) : null}
    </View>
  )
}

/** Design px (750 wide) as an inline style length: rpx on weapp, rem on h5 (as the CSS gets). */
function Taro_px(designPx: number): string {
  return Taro.pxTransform(designPx)
}
