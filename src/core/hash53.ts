/**
 * A fast 53-bit string hash (cyrb53), small enough to be an exact JavaScript number and an SQLite
 * INTEGER. Index keys made from it are 7 bytes instead of ~40-byte ids, so the index tables have
 * several times fewer pages to rewrite. Lookups always verify the full id, so a collision costs a
 * row read, never a wrong answer.
 */
export function hash53(s: string): number {
  return hashChars(s, null);
}

/**
 * `hash53(\`${a} ${b}\`)` without building the joined string (which the hash would first have
 * to copy into one piece): the same value, so keys stored by either stay valid.
 */
export function hash53Joined(a: string, b: string): number {
  return hashChars(a, b);
}

/** The characters of `a`, then, when `b` is given, a space and the characters of `b`. */
function hashChars(a: string, b: string | null): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const split = a.length;
  const n = b === null ? split : split + 1 + b.length;
  for (let i = 0; i < n; i++) {
    const c = i < split ? a.charCodeAt(i) : i === split ? 32 : b!.charCodeAt(i - split - 1);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2);
}

/**
 * A hash of two strings and two whole numbers (each from 0 to 2^53) as one tuple, without joining
 * them into one string first (building that string and reading it back took several times the
 * hash itself): each string's length goes in before its characters, so no two tuples read alike.
 * Another `seed` gives another hash of the same tuple.
 */
export function hash53Tuple(a: string, b: string, x: number, y: number, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  let c: number;
  // Each string's length, then its characters.
  for (const s of [a, b]) {
    for (let i = -1; i < s.length; i++) {
      c = i < 0 ? s.length : s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
  }
  // Each number as its two 32-bit halves.
  for (const n of [x, y]) {
    c = n % 4294967296;
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
    c = Math.floor(n / 4294967296);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2);
}

/** cyrb53's last mix of its two halves into one 53-bit number. */
function finish(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
