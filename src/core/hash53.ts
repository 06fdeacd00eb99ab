/**
 * A fast 53-bit string hash (cyrb53), small enough to be an exact JavaScript number and an SQLite
 * INTEGER. Index keys made from it are 7 bytes instead of ~40-byte ids, so the index tables have
 * several times fewer pages to rewrite. Lookups always verify the full id, so a collision costs a
 * row read, never a wrong answer. Another `seed` gives another hash of the same string.
 */
export function hash53(s: string, seed = 0): number {
  return hashChars(s, null, seed);
}

/**
 * `hash53(\`${a} ${b}\`)` without building the joined string (which the hash would first have
 * to copy into one piece): the same value, so keys stored by either stay valid.
 */
export function hash53Joined(a: string, b: string): number {
  return hashChars(a, b);
}

/**
 * The characters of `a`, then, when `b` is given, a space and the characters of `b`. Another
 * `seed` gives another hash of the same text (0 gives the one stored in index keys).
 */
function hashChars(a: string, b: string | null, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  const split = a.length;
  const n = b === null ? split : split + 1 + b.length;
  for (let i = 0; i < n; i++) {
    const c = i < split ? a.charCodeAt(i) : i === split ? 32 : b!.charCodeAt(i - split - 1);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
