/**
 * Assertions on thrown errors that unit tests share. This file is the
 * public face.
 */

/**
 * The error `f` throws, when it is a `type`; rethrows any other error, and
 * throws when `f` returns, so the test fails either way.
 */
export function errorOf<E extends Error>(type: abstract new (...args: never[]) => E, f: () => unknown): E {
  try {
    f();
  } catch (e) {
    if (e instanceof type) return e;
    throw e;
  }
  throw new Error('did not throw');
}
