// UTF-8 without TextEncoder, which QuickJS does not have.

/** The code point at `i` of `text` and how many UTF-16 units it takes; a lone surrogate is
 * U+FFFD, as TextEncoder makes it. */
function codePoint(text, i) {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return [0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00), 2];
  }
  return [c >= 0xd800 && c <= 0xdfff ? 0xfffd : c, 1];
}

/** The UTF-8 bytes of `text`, written into one array of the right size (two passes, so a
 * large body costs its bytes and no more). */
export function utf8(text) {
  let length = 0;
  for (let i = 0; i < text.length; ) {
    const [c, units] = codePoint(text, i);
    length += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    i += units;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (let i = 0; i < text.length; ) {
    const [c, units] = codePoint(text, i);
    i += units;
    if (c < 0x80) out[at++] = c;
    else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 63);
      out[at++] = 0x80 | (c & 63);
    } else {
      out[at++] = 0xf0 | (c >> 18);
      out[at++] = 0x80 | ((c >> 12) & 63);
      out[at++] = 0x80 | ((c >> 6) & 63);
      out[at++] = 0x80 | (c & 63);
    }
  }
  return out;
}
