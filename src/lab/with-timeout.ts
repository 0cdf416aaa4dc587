/**
 * `p`, or a rejection after `ms`: on the deadline `onTimeout` runs first (it kills what `p`
 * waits for, typically) and the rejection is what it throws, else "timed out after ms".
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => {
      try {
        onTimeout();
      } catch (e) {
        reject(e);
        return;
      }
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}
