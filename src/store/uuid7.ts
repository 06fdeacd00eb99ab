import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(16 * 256);
let offset = pool.length;
let lastMs = 0;
let seq = 0;

/**
 * A UUIDv7 (RFC 9562): 48 bits of milliseconds, then random bits, so new ids sort by creation
 * time. Rows keyed by them are appended at the end of their B-tree instead of splitting pages
 * all over it, which is what makes profile creation cheap. A 12-bit counter keeps ids made in the
 * same millisecond increasing.
 */
export function uuid7(now: number = Date.now()): string {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const b = pool.subarray(offset, offset + 16);
  offset += 16;
  if (now > lastMs) {
    lastMs = now;
    seq = b.readUInt16BE(6) & 0x07ff;
  } else {
    seq = (seq + 1) & 0x0fff;
    if (seq === 0) lastMs++;
  }
  const ms = lastMs;
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (seq >> 8);
  b[7] = seq & 0xff;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
