/**
 * PNG encoding of dataset images for the gallery.
 *
 * @module
 */
import { PNG } from "pngjs";

/** Encodes one `[H, W, C]` uint8 image (C = 1, 3 or 4) as PNG bytes. */
export function encodePng(
  bytes: Uint8Array,
  shape: readonly [number, number, number],
): Uint8Array<ArrayBuffer> {
  const [h, w, c] = shape;
  const png = new PNG({ width: w, height: h });
  for (let p = 0; p < h * w; p++) {
    const o = p * 4;
    if (c === 1) {
      png.data[o] = png.data[o + 1] = png.data[o + 2] = bytes[p];
    } else {
      png.data[o] = bytes[p * c];
      png.data[o + 1] = bytes[p * c + 1];
      png.data[o + 2] = bytes[p * c + 2];
    }
    png.data[o + 3] = c === 4 ? bytes[p * c + 3] : 255;
  }
  return new Uint8Array(PNG.sync.write(png));
}
