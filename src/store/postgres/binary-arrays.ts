/**
 * Array parameters in Postgres' binary format. `pg` sends a Buffer parameter as binary, so a column
 * of thousands of values travels as one length-prefixed block: nothing to quote and escape into an
 * array literal here, nothing to parse back on the server. For a commit of a few thousand events this
 * halves the cost of the statements that carry them. The statement must cast the parameter to the
 * matching array type (`$1::text[]`, `$2::bigint[]`), which tells the server how to read it.
 */

const TEXT_OID = 25;
const INT8_OID = 20;
const BOOL_OID = 16;
const HEADER = 20;
const TWO_32 = 2 ** 32;

/** Writes a one-dimensional array header: dimensions, null flag, element type, length, lower bound. */
function header(size: number, length: number, hasNull: boolean, oid: number): Buffer {
  if (length === 0) {
    // No dimensions: the empty array.
    const b = Buffer.alloc(12);
    b.writeInt32BE(oid, 8);
    return b;
  }
  const b = Buffer.allocUnsafe(size);
  b.writeInt32BE(1, 0);
  b.writeInt32BE(hasNull ? 1 : 0, 4);
  b.writeInt32BE(oid, 8);
  b.writeInt32BE(length, 12);
  b.writeInt32BE(1, 16);
  return b;
}

/** A `text[]` parameter; null elements are SQL NULL. Strings are sent as UTF-8, as `pg` sends text. */
export function textArray(values: readonly (string | null)[]): Buffer {
  const n = values.length;
  // UTF-8 takes at most three bytes per UTF-16 code unit: size for that, write once, trim.
  let bound = HEADER + 4 * n;
  for (let i = 0; i < n; i++) bound += 3 * (values[i]?.length ?? 0);
  const b = header(bound, n, false, TEXT_OID);
  if (n === 0) return b;
  let at = HEADER;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      b.writeInt32BE(-1, at);
      b.writeInt32BE(1, 4); // has nulls
      at += 4;
    } else {
      const len = b.write(v, at + 4, 'utf8');
      b.writeInt32BE(len, at);
      at += 4 + len;
    }
  }
  return b.subarray(0, at);
}

/**
 * A `bigint[]` parameter; null elements are SQL NULL. Throws on a value that is not an integer in
 * range, as the server would.
 */
export function int8Array(values: readonly (number | null)[]): Buffer {
  const n = values.length;
  let size = HEADER;
  let hasNull = false;
  for (let i = 0; i < n; i++) {
    if (values[i] === null || values[i] === undefined) {
      hasNull = true;
      size += 4;
    } else size += 12;
  }
  const b = header(size, n, hasNull, INT8_OID);
  let at = HEADER;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      b.writeInt32BE(-1, at);
      at += 4;
      continue;
    }
    b.writeInt32BE(8, at);
    if (Number.isSafeInteger(v)) {
      const high = Math.floor(v / TWO_32);
      b.writeInt32BE(high, at + 4);
      b.writeUInt32BE(v - high * TWO_32, at + 8);
    } else if (Number.isInteger(v)) {
      b.writeBigInt64BE(BigInt(v), at + 4); // RangeError beyond 64 bits
    } else {
      throw new RangeError(`not an integer, for a bigint column: ${v}`);
    }
    at += 12;
  }
  return b;
}

/** A `boolean[]` parameter. */
export function boolArray(values: readonly boolean[]): Buffer {
  const n = values.length;
  const b = header(HEADER + 5 * n, n, false, BOOL_OID);
  let at = HEADER;
  for (let i = 0; i < n; i++) {
    b.writeInt32BE(1, at);
    b[at + 4] = values[i] ? 1 : 0;
    at += 5;
  }
  return b;
}
