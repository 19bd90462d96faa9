/** Hash slots in a Redis Cluster. */
export const SLOTS = 16_384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes keys with.
const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  TABLE[i] = crc & 0xffff;
}

/**
 * The slot Redis Cluster stores `key` in (as `CLUSTER KEYSLOT` answers): of the key's hash tag when
 * it has one (the text between the first `{` and the next `}`, if not empty), else of the whole key.
 */
export function keySlot(key: string): number {
  let start = 0;
  let end = key.length;
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    const code = key.charCodeAt(i);
    // Redis hashes bytes: anything beyond ASCII is hashed as its UTF-8 encoding.
    if (code >= 0x80) return crc16(Buffer.from(key.slice(start, end), "utf8")) % SLOTS;
    crc = ((crc << 8) & 0xff00) ^ (TABLE[((crc >> 8) ^ code) & 0xff] as number);
  }
  return crc % SLOTS;
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xff00) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  return crc;
}
