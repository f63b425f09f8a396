// Test kit: WebSocket frames on a byte stream (RFC 6455, section 5), for
// the test proxy that reads and writes whole messages between the client
// and the real gateway. The gateway negotiates no compression, so a text
// frame's payload is the message.

/** TEXT and CONT are the opcodes of a text frame and a continuation frame. */
export const TEXT = 1, CONT = 0;

/** FrameReader cuts a byte stream into whole frames. */
export class FrameReader {
  #buf = Buffer.alloc(0);

  /**
   * push adds bytes and returns the frames now whole, each {fin, op,
   * payload (unmasked), raw (the frame's bytes as they came)}.
   * @param {Buffer} b
   */
  push(b) {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, b]) : b;
    const out = [];
    for (let f; (f = parse(this.#buf)); ) {
      out.push(f);
      this.#buf = this.#buf.subarray(f.raw.length);
    }
    return out;
  }
}

/** parse reads the frame at the start of b, or returns null if it is not whole yet. */
function parse(b) {
  if (b.length < 2) return null;
  let len = b[1] & 0x7f, off = 2;
  if (len === 126) {
    if (b.length < 4) return null;
    len = b.readUInt16BE(2); off = 4;
  } else if (len === 127) {
    if (b.length < 10) return null;
    len = Number(b.readBigUInt64BE(2)); off = 10;
  }
  const masked = (b[1] & 0x80) !== 0;
  const key = off;
  if (masked) off += 4;
  if (b.length < off + len) return null;
  const payload = Buffer.from(b.subarray(off, off + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] ^= b[key + (i & 3)];
  return { fin: (b[0] & 0x80) !== 0, op: b[0] & 0x0f, payload, raw: b.subarray(0, off + len) };
}

/**
 * textFrame is a text frame of text: unmasked, as a server sends, or
 * masked with the zero key (the payload unchanged), as a client must.
 * @param {string} text
 * @param {boolean} [masked]
 */
export function textFrame(text, masked = false) {
  const t = Buffer.from(text);
  const ext = t.length < 126 ? 0 : t.length < 65536 ? 2 : 8;
  const key = masked ? 4 : 0;
  const f = Buffer.alloc(2 + ext + key + t.length);
  f[0] = 0x80 | TEXT;
  f[1] = (masked ? 0x80 : 0) | (ext === 0 ? t.length : ext === 2 ? 126 : 127);
  if (ext === 2) f.writeUInt16BE(t.length, 2);
  if (ext === 8) f.writeBigUInt64BE(BigInt(t.length), 2);
  t.copy(f, 2 + ext + key);
  return f;
}

/** closeFrame is an unmasked server-to-client close frame. */
export function closeFrame(code, reason) {
  const r = Buffer.from(reason);
  const f = Buffer.alloc(4 + r.length);
  f[0] = 0x88; f[1] = 2 + r.length;
  f.writeUInt16BE(code, 2);
  r.copy(f, 4);
  return f;
}
