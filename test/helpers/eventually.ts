import assert from 'node:assert/strict';

/**
 * Probes every 20 ms until `ok` holds and returns that value; fails after `ms` naming `what` and
 * the last value seen.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T> | T,
  ok: (v: T) => boolean,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
