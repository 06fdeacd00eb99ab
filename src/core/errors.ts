/** Fails a `switch` at compile time when a tagged union gains a case nobody handles. */
export function assertNever(x: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(x)}`);
}
