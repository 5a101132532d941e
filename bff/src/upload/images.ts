/**
 * Image facts and thumbnails (sharp/libvips). The message carries the displayed width and height so
 * the client can size the bubble before anything loads, and a small thumbnail URL for the bubble;
 * the full image is only fetched by the previewer.
 */
import sharp from 'sharp'

export interface ImageFacts {
  /** Displayed size: EXIF orientations 5-8 (phone photos taken upright) swap the stored axes. */
  readonly width: number
  readonly height: number
}

export class ImageRejected extends Error {
  override readonly name = 'ImageRejected'
}

/**
 * Reads the header, then writes a JPEG thumbnail whose longest side is at most `maxPx` (never
 * enlarged), upright, on white where the image was transparent. JPEG because every mini-program
 * base library and browser shows it (WebP needs the `webp` prop on weapp's <Image>).
 */
export async function makeThumbnail(
  input: string,
  output: string,
  options: { readonly maxPx: number; readonly maxPixels: number },
): Promise<ImageFacts> {
  let meta: sharp.Metadata
  try {
    meta = await sharp(input, { limitInputPixels: options.maxPixels }).metadata()
  } catch (err) {
    throw new ImageRejected('image cannot be read', { cause: err })
  }
  if (!meta.width || !meta.height) throw new ImageRejected('image has no size')
  // With `pages`, height is the height of all frames stacked; the first frame is what is shown.
  const frameHeight = meta.pageHeight ?? meta.height
  if (meta.width * frameHeight > options.maxPixels) throw new ImageRejected('image has too many pixels')
  const swap = (meta.orientation ?? 1) >= 5
  const facts: ImageFacts = swap ? { width: frameHeight, height: meta.width } : { width: meta.width, height: frameHeight }
  try {
    await sharp(input, { limitInputPixels: options.maxPixels, pages: 1 })
      .rotate()
      .resize(options.maxPx, options.maxPx, { fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 72, mozjpeg: false })
      .toFile(output)
  } catch (err) {
    throw new ImageRejected('image cannot be decoded', { cause: err })
  }
  return facts
}
