// painterly serve: check a picked file from its first bytes, before the browser decodes it.
// A text file must be refused on pick (not shown as a broken thumbnail), and a 20000x20000 PNG
// must be refused from its header (not decoded in full for a thumbnail): so the format and the
// pixel count come from the header, as the server reads them (painterly.io sniffs, never trusts
// the file name).
"use strict";

// Formats the server decodes; `shows`: whether a browser can draw a thumbnail of it.
const IMAGE_FORMATS = [
  { name: "PNG", shows: true, is: (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 },
  { name: "JPEG", shows: true, is: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { name: "GIF", shows: true, is: (b) => ascii(b, 0, 4) === "GIF8" },
  { name: "WebP", shows: true, is: (b) => ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP" },
  { name: "BMP", shows: true, is: (b) => ascii(b, 0, 2) === "BM" },
  { name: "AVIF", shows: true, is: (b) => ascii(b, 4, 8) === "ftyp" && /avi[fs]/.test(ascii(b, 8, 12)) },
  { name: "TIFF", shows: false, is: (b) => ascii(b, 0, 4) === "II*\0" || ascii(b, 0, 4) === "MM\0*" },
  { name: "PPM", shows: false, is: (b) => /^P[1-6]\s/.test(ascii(b, 0, 3)) },
  { name: "QOI", shows: false, is: (b) => ascii(b, 0, 4) === "qoif" },
];

function ascii(bytes, from, to) {
  return String.fromCharCode(...bytes.slice(from, to));
}

async function readBytes(file, from, to) {
  return new Uint8Array(await file.slice(from, to).arrayBuffer());
}

// (width, height) from the header, or null where the header does not say (the server still checks).
async function headerSize(file, format, b) {
  const be16 = (a, i) => (a[i] << 8) | a[i + 1];
  const le16 = (a, i) => a[i] | (a[i + 1] << 8);
  const be32 = (a, i) => ((a[i] << 24) >>> 0) + (a[i + 1] << 16) + (a[i + 2] << 8) + a[i + 3];
  const le32 = (a, i) => a[i] + (a[i + 1] << 8) + (a[i + 2] << 16) + ((a[i + 3] << 24) >>> 0);
  if (format === "PNG" && b.length >= 24) return [be32(b, 16), be32(b, 20)];
  if (format === "GIF" && b.length >= 10) return [le16(b, 6), le16(b, 8)];
  if (format === "BMP" && b.length >= 26) return [le32(b, 18) | 0, Math.abs(le32(b, 22) | 0)];
  if (format === "QOI" && b.length >= 12) return [be32(b, 4), be32(b, 8)];
  if (format === "WebP" && b.length >= 30) {
    const chunk = ascii(b, 12, 16);
    if (chunk === "VP8X") return [1 + b[24] + (b[25] << 8) + (b[26] << 16), 1 + b[27] + (b[28] << 8) + (b[29] << 16)];
    if (chunk === "VP8 ") return [le16(b, 26) & 0x3fff, le16(b, 28) & 0x3fff];
    if (chunk === "VP8L") {
      const bits = le32(b, 21);
      return [1 + (bits & 0x3fff), 1 + ((bits >>> 14) & 0x3fff)];
    }
  }
  if (format === "JPEG") {
    // Walk the segments to the frame header (SOFn); EXIF thumbnails can be large, so read by segment.
    let pos = 2;
    for (let n = 0; n < 200 && pos < file.size; n++) {
      const m = await readBytes(file, pos, pos + 9);
      if (m.length < 4 || m[0] !== 0xff) return null;
      const marker = m[1];
      if (marker === 0xff) { pos += 1; continue; }
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return m.length >= 9 ? [be16(m, 7), be16(m, 5)] : null;
      }
      pos += 2 + be16(m, 2);
    }
  }
  return null;
}

// {ok, format, width, height, shows} or {ok: false, why}: `why` is one line for the page.
async function checkImageFile(file, maxPixels, maxBytes) {
  const head = await readBytes(file, 0, 64);
  const format = IMAGE_FORMATS.find((f) => f.is(head));
  const name = file.name || "the pasted image";
  if (!format) return { ok: false, why: `${name} is not an image (PNG, JPEG, WebP, GIF, BMP, AVIF or TIFF)` };
  if (maxBytes && file.size > maxBytes) {
    const mb = (x) => (x / 2 ** 20).toFixed(1);
    return { ok: false, why: `${name} is ${mb(file.size)} MB, over this server's ${mb(maxBytes)} MB limit` };
  }
  const size = await headerSize(file, format.name, head);
  if (size && maxPixels && size[0] * size[1] > maxPixels) {
    return { ok: false, why: `${name} is ${size[0]}\u00d7${size[1]} px, over this server's ${(maxPixels / 1e6).toFixed(0)} megapixel limit` };
  }
  if (size && (size[0] < 1 || size[1] < 1)) return { ok: false, why: `${name} has an empty picture (${size[0]}\u00d7${size[1]} px)` };
  return { ok: true, format: format.name, shows: format.shows, width: size ? size[0] : null, height: size ? size[1] : null };
}
