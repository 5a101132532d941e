/** TypeScript types of the protocol, inferred from the schemas so the two can never disagree. */
import type * as v from 'valibot'
import type * as s from './schemas'

export type UserId = v.InferOutput<typeof s.UserId>
export type ConvId = v.InferOutput<typeof s.ConvId>
export type MessageKind = v.InferOutput<typeof s.MessageKind>
export type TextBody = v.InferOutput<typeof s.TextBody>
export type ImageBody = v.InferOutput<typeof s.ImageBody>
export type FileBody = v.InferOutput<typeof s.FileBody>
export type FileRef = v.InferOutput<typeof s.FileRef>
export type RecalledBody = v.InferOutput<typeof s.RecalledBody>
export type RecallBody = v.InferOutput<typeof s.RecallBody>
export type HiddenBody = v.InferOutput<typeof s.HiddenBody>
export type VoiceBody = v.InferOutput<typeof s.VoiceBody>
export type VoiceRef = v.InferOutput<typeof s.VoiceRef>
export type RetractedBy = v.InferOutput<typeof s.RetractedBy>
export type Message = v.InferOutput<typeof s.Message>
export type ConvKind = v.InferOutput<typeof s.ConvKind>
export type User = v.InferOutput<typeof s.User>
export type Conversation = v.InferOutput<typeof s.Conversation>
export type Presence = v.InferOutput<typeof s.Presence>
export type RelationState = v.InferOutput<typeof s.RelationState>
export type RelationEntry = v.InferOutput<typeof s.RelationEntry>
export type DirectPolicy = v.InferOutput<typeof s.DirectPolicy>
export type SystemBody = v.InferOutput<typeof s.SystemBody>
export type GroupOp = v.InferOutput<typeof s.GroupOp>
export type ReplyRef = v.InferOutput<typeof s.ReplyRef>
export type ReplyQuote = v.InferOutput<typeof s.ReplyQuote>
export type ForwardRef = v.InferOutput<typeof s.ForwardRef>
export type SendTextBody = v.InferOutput<typeof s.SendTextBody>
export type StoredTextBody = v.InferOutput<typeof s.StoredTextBody>

export type ClientFrame = v.InferOutput<typeof s.ClientFrame>
export type ClientFrameType = ClientFrame['type']
export type ClientFrameOf<T extends ClientFrameType> = Extract<ClientFrame, { type: T }>
export type SendFrame = v.InferOutput<typeof s.SendFrame>

export type ServerFrame = v.InferOutput<typeof s.ServerFrame>
export type ServerFrameType = ServerFrame['type']
export type ServerFrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>

export type WxLoginRequest = v.InferOutput<typeof s.WxLoginRequest>
export type DevLoginRequest = v.InferOutput<typeof s.DevLoginRequest>
export type RefreshRequest = v.InferOutput<typeof s.RefreshRequest>
export type AuthResponse = v.InferOutput<typeof s.AuthResponse>
export type ErrorResponse = v.InferOutput<typeof s.ErrorResponse>

/**
 * What the BFF answers for a finished upload, and at GET /files/:id/info (PROTOCOL.md, HTTP):
 * everything a file or image message body needs. URLs are paths relative to the BFF origin.
 */
export interface FileInfo {
  readonly fileId: string
  readonly kind: 'image' | 'file'
  readonly name: string
  readonly size: number
  readonly mime: string
  readonly url: string
  readonly width?: number
  readonly height?: number
  readonly thumbUrl?: string
}
