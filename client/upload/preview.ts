/**
 * What a file message can be opened as. `wx.openDocument` needs an explicit fileType, one of doc,
 * docx, xls, xlsx, ppt, pptx, pdf (PLATFORM.md, Media); anything else is shown as name and size
 * only. The type comes from the MIME type the server decided from the file's content
 * (bff/src/upload/content.ts), not from the name a sender chose; the name is only a fallback for
 * messages without a MIME type.
 */
export type DocumentType = 'doc' | 'docx' | 'xls' | 'xlsx' | 'ppt' | 'pptx' | 'pdf'

const BY_MIME: Readonly<Record<string, DocumentType>> = {
  'application/pdf': 'pdf',
  'application/msword': 'doc',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.ms-powerpoint': 'ppt',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
}

const TYPES: readonly DocumentType[] = ['doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'pdf']

export function documentTypeOf(mime: string | undefined, name: string): DocumentType | undefined {
  if (mime) return BY_MIME[mime.toLowerCase()]
  const ext = name.split('.').pop()?.toLowerCase() ?? ''
  return (TYPES as readonly string[]).includes(ext) ? (ext as DocumentType) : undefined
}
